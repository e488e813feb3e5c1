"""Versions side by side: what changed, whether a local copy is intact, what an upload will store.

Every result is a frozen dataclass whose path lists are sorted tuples, with a ``to_json()`` for programs:

- :class:`VersionDiff` (:func:`diff_manifests`, :func:`diff_versions`, ``new.diff(old)``) compares two
  manifests, reading no file: paths added, removed, changed and renamed, links whose target moved, empty
  directories added and removed, bytes added and removed. It is falsy when both versions hold the same
  files. With ``tables=True`` it adds the schema change and row counts of changed CSV, TSV and Parquet files
  (:class:`TableChange`, needs ``pyarrow``).
- :class:`VerifyReport` (:func:`verify_directory`, ``version.verify(directory)``) compares a local directory
  with a version: missing, extra and changed paths, and ``ok``.
- :class:`UploadPlan` (:func:`plan_upload`, ``asset.plan_upload(version, directory)``) tells what an upload
  of a directory will do, copying and submitting nothing: which paths the service will store, which it will
  turn into links to the asset's latest version (same size and MD5) or into the registry, which stay links
  inside the tree, which it skips, and how many bytes it stores.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
import stat
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._log import logger
from ._staging import check_tree
from .errors import (
    ConfigurationError,
    GobblerError,
    InvalidArgumentError,
    InvalidRequestError,
    NotFoundError,
    error_from_oserror,
)
from .models import Manifest

if TYPE_CHECKING:
    from .client import GobblerClient
    from .handles import Asset, Version

__all__ = [
    "LinkChange",
    "TableChange",
    "UploadPlan",
    "VerifyReport",
    "VersionDiff",
    "diff_manifests",
    "diff_versions",
    "plan_upload",
    "verify_directory",
]

#: Bytes read at a time when hashing a local file.
_CHUNK = 1 << 20
#: The largest Parquet footer read (a footer this big means a file of millions of row groups or columns).
_MAX_FOOTER = 64 << 20
#: File suffixes compared as tables, and the delimiter of the text ones.
_TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".parquet": ""}


def _sorted(items: Iterable[str]) -> tuple[str, ...]:
    # Python compares str by code point, which for UTF-8 is the byte order the service sorts manifests in.
    return tuple(sorted(items))


def _plain(value: Any) -> Any:
    """A result's field as JSON data: tuples become lists, mappings dicts, dataclasses their fields."""
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    return value


# ---------------------------------------------------------------------------------------------- diff


@dataclass(frozen=True)
class LinkChange:
    """A path holding the same bytes in both versions, but stored in (or linked to) a different place.

    Attributes:
        path: Path inside both versions.
        old: Registry path of the file holding the bytes in the old version (``project/asset/version/
            path``: the link's final target, or the file itself when it is not a link).
        new: The same for the new version.
    """

    path: str
    old: str
    new: str


@dataclass(frozen=True)
class TableChange:
    """How a table (CSV, TSV or Parquet) changed between two versions.

    Attributes:
        path: Path of the table inside both versions.
        format: ``"csv"``, ``"tsv"`` or ``"parquet"``.
        columns_added: Columns only the new version has, in its order.
        columns_removed: Columns only the old version has, in its order.
        columns_retyped: ``(column, old type, new type)`` for columns whose type changed (Arrow type names).
        rows_old: Rows in the old version (``None`` when it could not be read).
        rows_new: Rows in the new version (``None`` when it could not be read).
        error: Why the table could not be compared (``None`` when it could).
    """

    path: str
    format: str
    columns_added: tuple[str, ...] = ()
    columns_removed: tuple[str, ...] = ()
    columns_retyped: tuple[tuple[str, str, str], ...] = ()
    rows_old: int | None = None
    rows_new: int | None = None
    error: str | None = None

    @property
    def schema_changed(self) -> bool:
        """Whether columns were added, removed or retyped."""
        return bool(self.columns_added or self.columns_removed or self.columns_retyped)

    def to_json(self) -> dict[str, Any]:
        """The change as plain JSON data."""
        return dict(_plain(self))


@dataclass(frozen=True)
class VersionDiff:
    """What changed from an old version to a new one, computed from their manifests.

    Every path list is sorted. A path is in exactly one of ``added``, ``removed``, ``changed``,
    ``unchanged`` or a pair of ``renamed``; empty-directory entries are only in ``directories_added`` and
    ``directories_removed``. The diff is falsy when both versions hold the same files (``links_changed``
    alone does not make it truthy: the bytes are the same, only where they are stored differs).

    Attributes:
        old: ``project/asset/version`` of the old version (``""`` when diffing bare manifests).
        new: ``project/asset/version`` of the new version.
        added: Files only the new version has (renamed ones excluded).
        removed: Files only the old version has (renamed ones excluded).
        changed: Files in both whose size or MD5 differ.
        renamed: ``(old path, new path)`` pairs with the same size and MD5, the old path gone from the new
            version and the new path absent from the old one. When several removed files hold the same
            bytes as several added ones, they are paired in path order.
        unchanged: Files in both with the same size and MD5.
        links_changed: Unchanged files whose bytes live in a different registry file (at least one side
            being a link): a link retargeted, a stored file replaced by a link or the reverse.
        directories_added: Empty directories only the new version records.
        directories_removed: Empty directories only the old version records.
        bytes_added: Sizes of the added files plus the new sizes of the changed ones.
        bytes_removed: Sizes of the removed files plus the old sizes of the changed ones.
        tables: Schema and row-count changes of changed tables (only with ``tables=True``).
    """

    old: str
    new: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    unchanged: tuple[str, ...] = ()
    links_changed: tuple[LinkChange, ...] = ()
    directories_added: tuple[str, ...] = ()
    directories_removed: tuple[str, ...] = ()
    bytes_added: int = 0
    bytes_removed: int = 0
    tables: tuple[TableChange, ...] = ()

    def __bool__(self) -> bool:
        return bool(
            self.added
            or self.removed
            or self.changed
            or self.renamed
            or self.directories_added
            or self.directories_removed
        )

    def stat(self) -> dict[str, int]:
        """How many paths fall in each category, and the bytes added and removed."""
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "changed": len(self.changed),
            "renamed": len(self.renamed),
            "unchanged": len(self.unchanged),
            "links_changed": len(self.links_changed),
            "directories_added": len(self.directories_added),
            "directories_removed": len(self.directories_removed),
            "bytes_added": self.bytes_added,
            "bytes_removed": self.bytes_removed,
        }

    def to_json(self) -> dict[str, Any]:
        """The diff as plain JSON data (``identical`` is ``not diff``; ``unchanged`` is a count)."""
        return {**_plain(self), "identical": not self, "unchanged": len(self.unchanged)}


def _holder(key: str, path: str, data: Mapping[str, Any]) -> str:
    """Registry path of the file holding an entry's bytes: its link's final target, or itself."""
    link = data.get("link")
    if link is None:
        return f"{key}/{path}" if key else path
    final = link.get("ancestor") or link
    return f"{final['project']}/{final['asset']}/{final['version']}/{final['path']}"


def _final(link: Mapping[str, Any]) -> Mapping[str, Any]:
    ancestor: Mapping[str, Any] | None = link.get("ancestor")
    return link if ancestor is None else ancestor


def _same_holder(
    link: Mapping[str, Any] | None,
    old_link: Mapping[str, Any] | None,
    path: str,
    old_parts: tuple[str, ...],
    new_parts: tuple[str, ...],
) -> bool:
    """Whether two entries' bytes live in the same registry file (:func:`_holder` without building paths).

    The common case — a deduplicated file of the new version linking to the old version's own file —
    is decided by comparing fields, which keeps a diff of 20,000 links cheap.
    """
    if link is None and old_link is None:
        return True
    if link is not None and old_link is not None:
        a, b = _final(link), _final(old_link)
        return bool(
            a["path"] == b["path"]
            and a["version"] == b["version"]
            and a["asset"] == b["asset"]
            and a["project"] == b["project"]
        )
    final, parts = (_final(link), old_parts) if link is not None else (_final(old_link or {}), new_parts)
    return bool(final["path"] == path and (final["project"], final["asset"], final["version"]) == parts)


def diff_manifests(new: Manifest, old: Manifest, *, new_key: str = "", old_key: str = "") -> VersionDiff:
    """Compare two manifests (see :class:`VersionDiff`); no file is read.

    Args:
        new: Manifest of the newer version.
        old: Manifest of the older version.
        new_key: ``project/asset/version`` of ``new``, to name where its stored files live.
        old_key: The same for ``old``.
    """
    # The raw validated dictionaries, not the entry models: a 20,000-entry diff stays a small fraction of
    # the time it takes to parse the two manifests.
    new_root, old_root = new.root, old.root
    old_parts, new_parts = tuple(old_key.split("/")), tuple(new_key.split("/"))
    old_project, old_asset, old_version = (*old_parts, "", "", "")[:3]
    added: list[str] = []
    removed: list[str] = []
    changed: list[str] = []
    unchanged: list[str] = []
    links_changed: list[LinkChange] = []
    directories_added: list[str] = []
    directories_removed: list[str] = []
    bytes_added = bytes_removed = 0
    find = old_root.get
    for path, data in new_root.items():
        before = find(path)
        if before is None:
            (added if data["md5sum"] else directories_added).append(path)
            continue
        if data == before:
            # The same entry (the same link, if any): unchanged, and its bytes are where they were.
            if data["md5sum"]:
                unchanged.append(path)
            continue
        md5, old_md5 = data["md5sum"], before["md5sum"]
        if not md5 or not old_md5:
            # An empty directory became a file or the reverse (both empty directories are equal above).
            (added if md5 else directories_added).append(path)
            (removed if old_md5 else directories_removed).append(path)
        elif before["size"] != data["size"] or old_md5 != md5:
            changed.append(path)
            bytes_added += data["size"]
            bytes_removed += before["size"]
        else:
            unchanged.append(path)
            link = data.get("link")
            if link is not None and "link" not in before:
                # The usual case, inlined: a file deduplicated into a link to the old version's own file.
                final = link.get("ancestor") or link
                if (
                    final["path"] == path
                    and final["version"] == old_version
                    and final["asset"] == old_asset
                    and final["project"] == old_project
                ):
                    continue
            if not _same_holder(data.get("link"), before.get("link"), path, old_parts, new_parts):
                links_changed.append(
                    LinkChange(path, _holder(old_key, path, before), _holder(new_key, path, data))
                )
    for path in old_root.keys() - new_root.keys():
        (removed if old_root[path]["md5sum"] else directories_removed).append(path)
    renamed: list[tuple[str, str]] = []
    if added and removed:
        gone: dict[tuple[int, str], list[str]] = {}
        for path in sorted(removed, reverse=True):
            data = old_root[path]
            gone.setdefault((data["size"], data["md5sum"]), []).append(path)
        for path in sorted(added):
            data = new_root[path]
            candidates = gone.get((data["size"], data["md5sum"]))
            if candidates:
                renamed.append((candidates.pop(), path))
        if renamed:
            moved_from = {pair[0] for pair in renamed}
            moved_to = {pair[1] for pair in renamed}
            added = [path for path in added if path not in moved_to]
            removed = [path for path in removed if path not in moved_from]
    bytes_added += sum(new_root[path]["size"] for path in added)
    bytes_removed += sum(old_root[path]["size"] for path in removed)
    return VersionDiff(
        old=old_key,
        new=new_key,
        added=_sorted(added),
        removed=_sorted(removed),
        changed=_sorted(changed),
        renamed=tuple(sorted(renamed)),
        unchanged=_sorted(unchanged),
        links_changed=tuple(sorted(links_changed, key=lambda change: change.path)),
        directories_added=_sorted(directories_added),
        directories_removed=_sorted(directories_removed),
        bytes_added=bytes_added,
        bytes_removed=bytes_removed,
    )


def diff_versions(
    new: Version, old: Version, *, tables: bool = False, force_remote: bool = False
) -> VersionDiff:
    """Compare two versions, which may belong to different assets, projects or clients.

    Only the two manifests are read, each through its own handle's client (so a version of a mounted
    registry can be compared with one of a remote registry). With ``tables``, changed CSV, TSV and Parquet
    files are read too (see :class:`TableChange`).

    Args:
        new: The newer version.
        old: The older version.
        tables: Add the schema change and row counts of changed tables (needs ``pyarrow``).
        force_remote: Read the manifests through the REST API even when the registries are mounted.

    Raises:
        NotFoundError: When either version does not exist.
        ConfigurationError: When ``tables`` is set and ``pyarrow`` is not installed.
    """
    new_manifest = new.manifest(force_remote=force_remote)
    old_manifest = old.manifest(force_remote=force_remote)
    diff = diff_manifests(new_manifest, old_manifest, new_key=new.key, old_key=old.key)
    if not tables:
        return diff
    compared = []
    for path in diff.changed:
        suffix = _table_suffix(path)
        if suffix is not None:
            _require_pyarrow()
            sizes = (new_manifest[path].size, old_manifest[path].size)
            compared.append(_table_change(new, old, path, suffix, sizes))
    return dataclasses.replace(diff, tables=tuple(compared))


def _table_suffix(path: str) -> str | None:
    suffix = posixpath.splitext(path)[1].lower()
    return suffix if suffix in _TABLE_SUFFIXES else None


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            "comparing tables needs pyarrow: pip install 'gobbler-sdk[pydata]'"
        ) from None


def _table_change(new: Version, old: Version, path: str, suffix: str, sizes: tuple[int, int]) -> TableChange:
    kind = suffix.lstrip(".")
    try:
        old_schema, old_rows = _table_facts(old, path, suffix, sizes[1])
        new_schema, new_rows = _table_facts(new, path, suffix, sizes[0])
    except GobblerError:
        raise
    except Exception as exc:  # pyarrow raises many kinds for a malformed table; report, do not crash
        return TableChange(path=path, format=kind, error=f"{type(exc).__name__}: {exc}")
    old_types = dict(old_schema)
    new_types = dict(new_schema)
    return TableChange(
        path=path,
        format=kind,
        columns_added=tuple(name for name, _ in new_schema if name not in old_types),
        columns_removed=tuple(name for name, _ in old_schema if name not in new_types),
        columns_retyped=tuple(
            (name, old_types[name], kind_now)
            for name, kind_now in new_schema
            if name in old_types and old_types[name] != kind_now
        ),
        rows_old=old_rows,
        rows_new=new_rows,
    )


def _table_facts(version: Version, path: str, suffix: str, size: int) -> tuple[list[tuple[str, str]], int]:
    """The columns (name, Arrow type) and the number of rows of one table of a version."""
    if suffix == ".parquet":
        return _parquet_facts(version, path, size)
    import pyarrow.csv as pacsv

    local = version.fetch(path)
    options = pacsv.ParseOptions(delimiter=_TABLE_SUFFIXES[suffix])
    rows = 0
    with pacsv.open_csv(local, parse_options=options) as reader:
        schema = reader.schema
        for batch in reader:
            rows += batch.num_rows
    return [(column.name, str(column.type)) for column in schema], rows


def _parquet_facts(version: Version, path: str, size: int) -> tuple[list[tuple[str, str]], int]:
    """A Parquet file's schema and rows from its footer alone, read by range (two small reads)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    full = f"{version.key}/{path}"
    if size < 12:
        raise ValueError(f"{size} bytes is too small for a Parquet file")
    tail = version.client.read_range(full, size - 8, size)
    if tail[4:] != b"PAR1":
        raise ValueError("not a Parquet file (no PAR1 magic at its end)")
    length = struct.unpack("<I", tail[:4])[0]
    if length > min(size - 12, _MAX_FOOTER):
        raise ValueError(f"Parquet footer of {length} bytes does not fit in a file of {size} bytes")
    footer = version.client.read_range(full, size - 8 - length, size - 8)
    # The footer is parsed on its own: the magic at the front, the footer and the tail make a file that
    # pyarrow reads the metadata of (the column chunks it points to are never touched).
    metadata = pq.read_metadata(pa.BufferReader(b"PAR1" + footer + tail))
    schema = metadata.schema.to_arrow_schema()
    return [(column.name, str(column.type)) for column in schema], int(metadata.num_rows)


# -------------------------------------------------------------------------------------------- verify


@dataclass(frozen=True)
class VerifyReport:
    """How a local directory compares with a version (truthy when the copy is intact).

    Attributes:
        version: ``project/asset/version`` compared with.
        directory: The local directory.
        missing: Paths of the version (files and empty directories) absent from the directory.
        extra: Files, symlinks and empty directories of the directory that the version does not have.
        changed: Paths present in both whose content differs (size or MD5), or that are of another kind
            (a directory or a symlink where the version has a file, a file where it has an empty
            directory). Symlinks are never followed unless asked to.
        checked: How many files were compared (sizes, and MD5s where the sizes agree).
    """

    version: str
    directory: str
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    checked: int = 0

    @property
    def ok(self) -> bool:
        """Whether the directory holds exactly the version's files and empty directories."""
        return not (self.missing or self.extra or self.changed)

    def __bool__(self) -> bool:
        return self.ok

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON data (``ok`` included)."""
        return {**_plain(self), "ok": self.ok}


def _md5_of(path: str, follow: bool) -> tuple[int, str]:
    """Size and MD5 of a regular file, read without following a final symlink unless ``follow``."""
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | (0 if follow else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
            size += len(chunk)
        return size, digest.hexdigest()
    finally:
        os.close(fd)


def verify_directory(
    manifest: Manifest,
    directory: str | os.PathLike[str],
    *,
    version: str = "",
    follow_symlinks: bool = False,
) -> VerifyReport:
    """Compare a local directory with a manifest (see :class:`VerifyReport`).

    The walk is iterative and never enters a symlinked directory; a file's MD5 is computed only when its
    size matches. Internal ``..`` names are compared like any other (a version never has them).

    Args:
        manifest: The version's manifest.
        directory: The local copy.
        version: ``project/asset/version``, for the report.
        follow_symlinks: Compare what symlinks to files point to instead of counting them as changed.

    Raises:
        LocalFileNotFoundError: When ``directory`` does not exist (or another ``LocalFileError`` when it
            cannot be read).
        LocalNotADirectoryError: When ``directory`` is not a directory.
    """
    root = os.fspath(directory)
    entries = manifest.root
    extra: list[str] = []
    changed: list[str] = []
    seen: set[str] = set()
    checked = 0
    try:
        info = os.stat(root)
        if not stat.S_ISDIR(info.st_mode):
            raise NotADirectoryError(20, "not a directory", root)
        pending = [""]
        while pending:
            relative = pending.pop()
            children = 0
            with os.scandir(os.path.join(root, relative) if relative else root) as listing:
                for entry in listing:
                    children += 1
                    path = f"{relative}/{entry.name}" if relative else entry.name
                    expected = entries.get(path)
                    seen.add(path)
                    if entry.is_dir(follow_symlinks=False):
                        if expected is not None and expected["md5sum"] != "":
                            changed.append(path)
                        else:
                            pending.append(path)
                        continue
                    if expected is None:
                        extra.append(path)
                        continue
                    if expected["md5sum"] == "":
                        changed.append(path)
                        continue
                    is_link = entry.is_symlink()
                    if (is_link and not follow_symlinks) or not entry.is_file(
                        follow_symlinks=follow_symlinks
                    ):
                        changed.append(path)
                        continue
                    checked += 1
                    if entry.stat(follow_symlinks=follow_symlinks).st_size != expected["size"]:
                        changed.append(path)
                        continue
                    size, md5 = _md5_of(entry.path, follow_symlinks)
                    if size != expected["size"] or md5 != expected["md5sum"]:
                        changed.append(path)
            if relative and children == 0 and relative not in entries:
                extra.append(relative)
    except OSError as exc:
        raise error_from_oserror(exc, f"verify {root}") from exc
    # A recorded empty directory that is there counts as present even when something was put in it (that
    # is reported as extra).
    missing = [path for path in entries if path not in seen]
    return VerifyReport(
        version=version,
        directory=root,
        missing=_sorted(missing),
        extra=_sorted(extra),
        changed=_sorted(changed),
        checked=checked,
    )


# --------------------------------------------------------------------------------------- upload plan


@dataclass(frozen=True)
class UploadPlan:
    """What uploading a directory as a new version will do, found without copying or submitting anything.

    Every path of the version's future manifest is in exactly one of ``transferred``, ``linked``,
    ``local_links`` and ``empty_directories``.

    Attributes:
        version: ``project/asset/version`` that the upload would create.
        directory: The directory to upload.
        latest: ``project/asset/version`` of the asset's latest version, whose files deduplicate the upload's
            (``None`` when the asset has no latest version).
        transferred: Paths whose bytes the service will store.
        linked: Path → registry path (``project/asset/version/path``) it will be a link to: files with the
            same size and MD5 as a file of the latest version (when several files of the latest version
            hold those bytes, the service may pick any of them; this names a stored file first, then the
            smallest path, as the embedded service does), and symlinks into the registry.
        local_links: Path → path in the tree of the file it is a symlink to (links within the tree).
        skipped: Entries not uploaded: ``..`` names, and dotfiles and dot-directories under
            ``ignore_dot`` (a skipped directory is listed, not its contents).
        empty_directories: Directories the manifest will record as empty (nothing recorded lies below them).
        stored_bytes: Bytes the new version will store (and add to the project's usage).
        linked_bytes: Bytes of the linked files, which are not stored again.
        sizes: Path → size of every transferred and linked file (for display; not in :meth:`to_json`).
    """

    version: str
    directory: str
    latest: str | None
    transferred: tuple[str, ...]
    linked: Mapping[str, str]
    local_links: Mapping[str, str]
    skipped: tuple[str, ...]
    empty_directories: tuple[str, ...]
    stored_bytes: int
    linked_bytes: int = 0
    sizes: Mapping[str, int] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The plan as plain JSON data (without the sizes)."""
        document = _plain(self)
        del document["sizes"]
        return dict(document)


def _dedup_index(latest: Version, manifest: Manifest) -> dict[tuple[int, str], str]:
    """``(size, md5)`` → registry path a deduplicated file will link to (the service's match)."""
    index: dict[tuple[int, str], str] = {}
    stored: set[tuple[int, str]] = set()
    # A stored file is preferred over a link, then the smallest path (the service's choice is arbitrary).
    for path in sorted(manifest.root):
        data = manifest.root[path]
        key = (data["size"], data["md5sum"])
        is_stored = "link" not in data
        if key not in index or (is_stored and key not in stored):
            index[key] = f"{latest.key}/{path}"
            if is_stored:
                stored.add(key)
    return index


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def plan_upload(
    asset: Asset,
    version: str,
    directory: str | os.PathLike[str],
    *,
    ignore_dot: bool = True,
    follow_symlinks: bool = False,
    force_remote: bool = False,
) -> UploadPlan:
    """What ``asset.upload(version, directory, ...)`` would do, without copying or submitting anything.

    The directory is scanned and refused exactly as an upload refuses it, every file is hashed (to find
    those the service will deduplicate against the asset's latest version), and every symlink into the
    registry is checked against its target's manifest, as the service checks it. A directory already in
    staging is checked the same way, although its upload is submitted as it is (the service judges it).

    Args:
        asset: The asset the version would be added to.
        version: Name of the new version.
        directory: Directory to upload.
        ignore_dot: Skip dotfiles and dot-directories (as in the upload).
        follow_symlinks: Plan for uploading what refused symlinks point to (as in the upload).
        force_remote: Read the registry through the REST API even when it is mounted.

    Raises:
        InvalidNameError: When ``version`` is invalid.
        NotFoundError: When the project does not exist.
        InvalidRequestError: When the version already exists, the tree holds entries the service would
            refuse, or a registry link points at something the service cannot link to.
        LocalFileError: When the tree cannot be read.
    """
    target = asset.version(version)
    source = Path(directory)
    if not source.is_dir():
        raise InvalidRequestError(f"cannot upload {source}: not a directory")
    if not asset.project.exists(force_remote=force_remote):
        raise NotFoundError(f"project {asset.project.name} does not exist")
    if target.exists(force_remote=force_remote):
        raise InvalidRequestError(f"version {target.key} already exists")
    client = asset.client
    try:
        registry: str | None = client.registry
    except GobblerError:
        registry = None
    what = f"plan upload of {target.key}"
    try:
        scan = check_tree(source, ignore_dot=ignore_dot, follow_symlinks=follow_symlinks, registry=registry)
    except OSError as exc:
        raise error_from_oserror(exc, f"{what}: cannot read {source}") from exc
    try:
        latest = asset.latest(force_remote=force_remote)
    except NotFoundError:
        # A new asset: nothing to deduplicate against (a missing project is refused below, as uploads are).
        latest = None
    index = _dedup_index(latest, latest.manifest(force_remote=force_remote)) if latest is not None else {}

    root = os.path.normpath(os.path.abspath(source))
    transferred: list[str] = []
    linked: dict[str, str] = {}
    sizes: dict[str, int] = {}
    stored_bytes = linked_bytes = 0
    try:
        for path, _ in scan.files:
            size, md5 = _md5_of(os.path.join(root, path), path in scan.followed)
            sizes[path] = size
            link = index.get((size, md5))
            if link is None:
                transferred.append(path)
                stored_bytes += size
            else:
                linked[path] = link
                linked_bytes += size
        local_links: dict[str, str] = {}
        for path, text in scan.links:
            lexical = os.path.normpath(
                text if os.path.isabs(text) else os.path.join(root, os.path.dirname(path), text)
            )
            if _inside(lexical, root):
                local_links[path] = os.path.relpath(lexical, root).replace(os.sep, "/")
            else:
                assert registry is not None  # check_tree keeps other links only inside the registry
                linked[path] = os.path.relpath(lexical, os.path.normpath(registry)).replace(os.sep, "/")
        skipped = _skipped(root, scan.directories, ignore_dot)
    except OSError as exc:
        raise error_from_oserror(exc, f"{what}: cannot read {source}") from exc
    # The registry may not be mounted here: a registry link's size is that of its target's manifest entry.
    registry_sizes = _check_registry_links(
        client, {p: linked[p] for p, _ in scan.links if p in linked}, force_remote, what
    )
    sizes.update(registry_sizes)
    linked_bytes += sum(registry_sizes.values())

    # As the service does: a directory is recorded as empty when nothing recorded lies below it.
    holders: set[str] = set()
    for path in [*sizes, *local_links, *scan.directories]:
        parent = posixpath.dirname(path)
        while parent and parent not in holders:
            holders.add(parent)
            parent = posixpath.dirname(parent)
    empty = [path for path in scan.directories if path not in holders]
    return UploadPlan(
        version=target.key,
        directory=os.fspath(source),
        latest=None if latest is None else latest.key,
        transferred=_sorted(transferred),
        linked=dict(sorted(linked.items())),
        local_links=dict(sorted(local_links.items())),
        skipped=_sorted(skipped),
        empty_directories=_sorted(empty),
        stored_bytes=stored_bytes,
        linked_bytes=linked_bytes,
        sizes=dict(sorted(sizes.items())),
    )


def _skipped(root: str, directories: list[str], ignore_dot: bool) -> list[str]:
    """Names the service will not upload, in the root and in every directory the scan entered."""
    found: list[str] = []
    for relative in ["", *directories]:
        with os.scandir(os.path.join(root, relative) if relative else root) as listing:
            for entry in listing:
                if entry.name.startswith("..") or (ignore_dot and entry.name.startswith(".")):
                    found.append(f"{relative}/{entry.name}" if relative else entry.name)
    return found


def _check_registry_links(
    client: GobblerClient, links: Mapping[str, str], force_remote: bool, what: str
) -> dict[str, int]:
    """Refuse registry links the service would refuse, naming every one.

    Returns:
        The size of each link's target, from its version's manifest.
    """
    problems: list[str] = []
    sizes: dict[str, int] = {}
    manifests: dict[str, Manifest | None] = {}
    probational: dict[str, bool] = {}

    def manifest_of(key: str, version: Version) -> Manifest | None:
        if key not in manifests:
            try:
                manifests[key] = version.manifest(force_remote=force_remote)
                probational[key] = version.summary(force_remote=force_remote).on_probation
            except NotFoundError:
                manifests[key] = None
        return manifests[key]

    for path, target in links.items():
        parts = target.split("/")
        if len(parts) < 4:
            problems.append(f"{path}: links to {target}, which is not a file of a version")
            continue
        if any(part.startswith("..") for part in parts):
            problems.append(f"{path}: links to {target}, an internal '..' file")
            continue
        try:
            version = client.project(parts[0]).asset(parts[1]).version(parts[2])
        except InvalidArgumentError as exc:
            problems.append(f"{path}: links to {target}: {exc}")
            continue
        manifest = manifest_of(version.key, version)
        inner = "/".join(parts[3:])
        if manifest is None:
            problems.append(f"{path}: links to {target}, whose version does not exist")
        elif probational[version.key]:
            problems.append(f"{path}: links to {target}, in a probational version")
        elif inner not in manifest:
            problems.append(f"{path}: links to {target}, which is not in the manifest of {version.key}")
        else:
            sizes[path] = manifest[inner].size
    if problems:
        raise InvalidRequestError(
            f"{what}: the service would refuse these links:\n  " + "\n  ".join(problems)
        )
    logger.debug("%s: %d registry links checked", what, len(links))
    return sizes
