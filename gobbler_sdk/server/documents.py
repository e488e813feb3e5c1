"""Reading and writing the registry's internal files, byte for byte as the reference service writes them.

Every internal JSON file is written atomically (``.temp<digits>.json`` in the same directory, mode exactly
``0644``) with 4-space indentation and the reference's field orders. Readers decode with Go's rules
(:mod:`.gojson`) and raise :class:`RequestError` 500 when a file is missing or malformed, because every
caller treats an unreadable internal file as a server-side failure.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from datetime import datetime
from typing import Any

from .._atomic import atomic_write_bytes, temp_name
from .._rfc3339 import RFC3339Error, parse_rfc3339_strict
from .errors import RequestError
from .goerrors import (
    go_quote,
    link_error_text,
    os_error_detail,
    os_error_text,
    read_file_error_text,
    time_parse_error_text,
)
from .gojson import ListOf, MapOf, Struct, decode_document, dumps_pretty

__all__ = [
    "LATEST",
    "LINKS",
    "MANIFEST",
    "PERMISSIONS",
    "QUOTA",
    "SUMMARY",
    "USAGE",
    "Link",
    "Manifest",
    "ManifestEntry",
    "PendingWrites",
    "Permissions",
    "Summary",
    "dump_link",
    "finish_time",
    "read_json_file",
    "read_links",
    "read_manifest",
    "read_permissions",
    "read_summary",
    "write_json",
    "write_links",
    "write_manifest",
    "write_permissions",
    "write_summary",
]

PERMISSIONS = "..permissions"
QUOTA = "..quota"
USAGE = "..usage"
LATEST = "..latest"
SUMMARY = "..summary"
MANIFEST = "..manifest"
LINKS = "..links"

# Plain dicts keep the hot paths (20,000-entry manifests) cheap; these aliases document their shape.
Link = dict[str, Any]  # project, asset, version, path, optional ancestor (a Link without ancestor)
ManifestEntry = dict[str, Any]  # size, md5sum, optional link
Manifest = dict[str, ManifestEntry]
Permissions = dict[str, Any]  # owners (list|None), uploaders (list|None), optional global_write
Summary = dict[str, Any]  # upload_user_id, upload_start, upload_finish, optional on_probation

_LINK_FIELDS = {"project": "string", "asset": "string", "version": "string", "path": "string"}
# The names are the reference's Go types, which its decoder errors mention.
LINK_SPEC = Struct({**_LINK_FIELDS, "ancestor": Struct(_LINK_FIELDS, "linkMetadata")}, "linkMetadata")
# The reference decodes a ..links file into a map of pointers, which its type errors print.
_LINKS_SPEC = MapOf(LINK_SPEC, pointers=True)
ENTRY_SPEC = Struct({"size": "int", "md5sum": "string", "link": LINK_SPEC}, "manifestEntry")
_UPLOADER_FIELDS = {
    "id": "string",
    "asset": "string",
    "version": "string",
    "until": "string",
    "trusted": "bool",
}
UPLOADER_SPEC = Struct(_UPLOADER_FIELDS, "uploaderEntry")
PERMISSIONS_SPEC = Struct(
    {"owners": ListOf("string"), "uploaders": ListOf(UPLOADER_SPEC), "global_write": "bool"},
    "permissionsMetadata",
)
# Requests carry permissions in types of their own.
REQUEST_PERMISSIONS_SPEC = Struct(
    {
        "owners": ListOf("string"),
        "uploaders": ListOf(Struct(_UPLOADER_FIELDS, "unsafeUploaderEntry")),
        "global_write": "bool",
    },
    "unsafePermissionsMetadata",
)
SUMMARY_SPEC = Struct(
    {"upload_user_id": "string", "upload_start": "string", "upload_finish": "string", "on_probation": "bool"},
    "summaryMetadata",
)


def write_json(path: str, value: Any) -> None:
    """Write ``value`` atomically as an internal file (pretty, Go escaping, mode 0644).

    Raises:
        RequestError: 500 on any filesystem error.
    """
    data = dumps_pretty(value)
    if _is_directory(path):
        # Go's os.Rename refuses to replace a directory (EEXIST), once the reference has written its
        # temporary file, which it leaves behind.
        temporary = temp_name(os.path.dirname(path), ".temp", ".json")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                os.fchmod(handle.fileno(), 0o644)
        except OSError as exc:
            raise RequestError(500, _write_failure(path, exc)) from exc
        refusal = FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST))
        detail = link_error_text("rename", temporary, path, refusal)
        raise RequestError(500, f"failed to rename temporary file to {go_quote(path)}; {detail}")
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise RequestError(500, _write_failure(path, exc)) from exc


class PendingWrites:
    """Internal files written in full under temporary names, then renamed into place together.

    A full disk or a lack of inodes makes *writing* fail; renaming a file over another in the same
    directory needs neither. So a change that spans several files (an upload's ``..usage``, ``..latest``
    and journal entry) writes every file first, where a failure discards the others and leaves the
    registry exactly as it was, and only then renames them in the order they were added. Use it as a
    context manager: whatever was not committed is removed on exit.

    This is deliberately stricter than the reference, which writes such files one after the other and
    leaves the first ones changed when a later one fails.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[str, str, bytes | None]] = []

    def add(self, path: str, value: Any) -> None:
        """Write ``value`` as the future content of ``path`` (which is not touched yet).

        Raises:
            RequestError: 500 worded as :func:`write_json` would, when the temporary file cannot be
                written (or ``path`` is a directory, which no rename can replace).
        """
        if _is_directory(path):
            write_json(path, value)  # fails as the reference does, leaving its temporary file
        previous = _current_bytes(path)
        temporary = ""
        try:
            while True:
                temporary = temp_name(os.path.dirname(path), ".temp", ".json")
                try:
                    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                except FileExistsError:
                    continue
                break
            with os.fdopen(fd, "wb") as handle:
                handle.write(dumps_pretty(value))
                os.fchmod(handle.fileno(), 0o644)
        except OSError as exc:
            if temporary:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
            raise RequestError(500, _write_failure(path, exc)) from exc
        self._staged.append((temporary, path, previous))

    def commit(self) -> None:
        """Rename every written file into place, in order.

        Raises:
            RequestError: 500 when a rename fails; the files renamed before it get their previous
                content back (as far as the filesystem allows) and the rest are discarded.
        """
        done: list[tuple[str, bytes | None]] = []
        try:
            while self._staged:
                temporary, path, previous = self._staged[0]
                os.replace(temporary, path)
                self._staged.pop(0)
                done.append((path, previous))
        except OSError as exc:
            for path, previous in reversed(done):
                with contextlib.suppress(OSError):
                    if previous is None:
                        os.unlink(path)
                    else:
                        atomic_write_bytes(path, previous)
            raise RequestError(500, _write_failure(self._staged[0][1], exc)) from exc

    def __enter__(self) -> PendingWrites:
        return self

    def __exit__(self, *exc: object) -> None:
        for temporary, _, _ in self._staged:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        self._staged.clear()


def _current_bytes(path: str) -> bytes | None:
    """The content of an internal file about to be replaced (``None`` when there is none), for undoing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        # Internal files are small; the bound keeps a damaged one from being read whole.
        return handle.read(1 << 20)


def _write_failure(path: str, exc: OSError) -> str:
    """The reference's words for a failed atomic write: the temporary file's creation or its rename."""
    temp = os.fsdecode(exc.filename) if exc.filename is not None else path
    if exc.filename2 is not None:
        # Go's os.Rename refuses a directory as the destination itself, with EEXIST.
        cause: OSError = FileExistsError(errno.EEXIST, "") if isinstance(exc, IsADirectoryError) else exc
        detail = link_error_text("rename", temp, path, cause)
        return f"failed to rename temporary file to {go_quote(path)}; {detail}"
    if exc.filename is not None and temp != path:
        detail = os_error_text("open", temp, exc)
        return f"failed to create temporary file when saving {go_quote(path)}; {detail}"
    return f"failed to write {go_quote(path)}; {os_error_detail(exc)}"


def _is_directory(path: str) -> bool:
    """Whether ``path`` itself (not what a symlink there points to) is a directory."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def read_json_file(path: str, spec: Any, unreadable: str, unparsable: str) -> Any:
    """Read and decode an internal file against a :mod:`.gojson` spec.

    Args:
        path: File to read.
        spec: Expected shape.
        unreadable: What the reference says before the OS error when the file cannot be read
            (``cannot read '<file>'``); empty for the bare error.
        unparsable: What it says before the decoder's error (``cannot parse JSON in '<file>'``).

    Raises:
        RequestError: 500 when the file is missing, unreadable or malformed.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise RequestError(500, _chain(unreadable, read_file_error_text(path, exc))) from exc
    try:
        return decode_document(data, spec)
    except ValueError as exc:
        raise RequestError(500, _chain(unparsable, str(exc))) from exc


def _chain(context: str, detail: str) -> str:
    return f"{context}; {detail}" if context else detail


# ---------------------------------------------------------------- links and manifests


def dump_link(link: Link) -> Link:
    """Return ``link`` with the reference's field order (and its ancestor's)."""
    out: Link = {
        "project": link.get("project", ""),
        "asset": link.get("asset", ""),
        "version": link.get("version", ""),
        "path": link.get("path", ""),
    }
    ancestor = link.get("ancestor")
    if ancestor is not None:
        out["ancestor"] = {
            "project": ancestor.get("project", ""),
            "asset": ancestor.get("asset", ""),
            "version": ancestor.get("version", ""),
            "path": ancestor.get("path", ""),
        }
    return out


def _dump_entry(entry: ManifestEntry) -> ManifestEntry:
    out: ManifestEntry = {"size": entry.get("size", 0), "md5sum": entry.get("md5sum", "")}
    link = entry.get("link")
    if link is not None:
        out["link"] = dump_link(link)
    return out


def read_manifest(version_dir: str) -> Manifest:
    """Read ``<version_dir>/..manifest``.

    Raises:
        RequestError: 500 when it is missing or malformed.
    """
    path = os.path.join(version_dir, MANIFEST)
    value = read_json_file(path, MapOf(ENTRY_SPEC), f"cannot read '{path}'", f"cannot parse JSON in '{path}'")
    if value is None:
        return {}
    return {key: (entry if entry is not None else {"size": 0, "md5sum": ""}) for key, entry in value.items()}


def write_manifest(version_dir: str, manifest: Manifest) -> None:
    """Write ``<version_dir>/..manifest`` with paths sorted byte-wise."""
    ordered = {key: _dump_entry(manifest[key]) for key in sorted(manifest, key=_bytewise)}
    write_json(os.path.join(version_dir, MANIFEST), ordered)


def read_links(directory: str) -> dict[str, Link]:
    """Read ``<directory>/..links``; a ``null`` document is an empty one, as in the reference.

    Raises:
        RequestError: 500 when it is unreadable, malformed, or has a ``null`` value.
    """
    path = os.path.join(directory, LINKS)
    context = f"failed to read linkfile at {go_quote(path)}"
    value = read_json_file(path, _LINKS_SPEC, context, context)
    if value is None:
        return {}
    for name, link in value.items():
        if link is None:
            where = f"{go_quote(name)} in linkfile at {go_quote(path)}"
            raise RequestError(500, f"unexpected nil value for {where}")
    return dict(value)


def write_links(directory: str, links: dict[str, Link]) -> None:
    """Write ``<directory>/..links`` with names sorted byte-wise."""
    ordered = {name: dump_link(links[name]) for name in sorted(links, key=_bytewise)}
    write_json(os.path.join(directory, LINKS), ordered)


def _bytewise(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


# ---------------------------------------------------------------- summaries


def read_summary(version_dir: str) -> Summary:
    """Read ``<version_dir>/..summary``.

    Raises:
        RequestError: 500 when it is missing or malformed.
    """
    path = os.path.join(version_dir, SUMMARY)
    value = read_json_file(path, SUMMARY_SPEC, f"cannot read '{path}'", f"cannot parse JSON in '{path}'")
    return value if value is not None else {}


def write_summary(version_dir: str, summary: Summary) -> None:
    """Write ``..summary``: the three strings always (absent → ``""``), ``on_probation`` only when true."""
    out: Summary = {
        "upload_user_id": summary.get("upload_user_id", ""),
        "upload_start": summary.get("upload_start", ""),
        "upload_finish": summary.get("upload_finish", ""),
    }
    if summary.get("on_probation") is True:
        out["on_probation"] = True
    write_json(os.path.join(version_dir, SUMMARY), out)


def finish_time(summary: Summary) -> datetime:
    """Parse ``upload_finish`` of a summary.

    Raises:
        RequestError: 500 with Go's ``time.Parse`` error when it is not RFC 3339; callers add where.
    """
    text = str(summary.get("upload_finish", ""))
    try:
        return parse_rfc3339_strict(text)
    except RFC3339Error as exc:
        raise RequestError(500, time_parse_error_text(text, exc)) from exc


# ---------------------------------------------------------------- permissions


def read_permissions(directory: str, *, name_file: bool = False) -> Permissions:
    """Read ``<directory>/..permissions`` (project or asset level).

    Args:
        directory: Project or asset directory.
        name_file: Name the file rather than the directory in errors (as the reference does for an
            asset's permissions during an upload).

    Raises:
        RequestError: 500 when it is missing or malformed.
    """
    path = os.path.join(directory, PERMISSIONS)
    where = go_quote(path if name_file else directory)
    value = read_json_file(
        path, PERMISSIONS_SPEC, f"failed to read {where}", f"failed to parse JSON from {where}"
    )
    return value if value is not None else {}


def _dump_uploader(entry: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": entry.get("id")}
    for key in ("asset", "version", "until", "trusted"):
        if entry.get(key) is not None:
            out[key] = entry[key]
    return out


def write_permissions(directory: str, permissions: Permissions) -> None:
    """Write ``..permissions``; unset ``owners``/``uploaders`` become ``null`` (the reference's quirk)."""
    uploaders = permissions.get("uploaders")
    out: Permissions = {
        "owners": permissions.get("owners"),
        "uploaders": None if uploaders is None else [_dump_uploader(u) for u in uploaders],
    }
    if permissions.get("global_write") is not None:
        out["global_write"] = permissions["global_write"]
    write_json(os.path.join(directory, PERMISSIONS), out)
