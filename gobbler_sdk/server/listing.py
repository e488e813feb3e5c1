"""``GET /list``: directory listings of the registry.

The ``path`` query value is percent-decoded twice (the reference's quirk), must stay inside the registry,
and is walked without following symlinks.
"""

from __future__ import annotations

import os
import re
import stat
from urllib.parse import unquote_to_bytes

from . import paths
from .errors import RequestError, go_quote, os_error_text

__all__ = ["list_registry", "parse_query"]

_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


def _query_unescape(raw: bytes) -> bytes:
    """Go's ``url.QueryUnescape``: ``+`` is a space, ``%XX`` a byte, any other ``%`` an error.

    Raises:
        ValueError: Worded like Go's ``EscapeError`` (``invalid URL escape "%zz"``).
    """
    bad = _BAD_ESCAPE.search(raw)
    if bad:
        fragment = raw[bad.start() : bad.start() + 3]
        raise ValueError(f"invalid URL escape {go_quote(os.fsdecode(fragment))}")
    return unquote_to_bytes(raw.replace(b"+", b" "))


def parse_query(query: str) -> dict[str, list[bytes]]:
    """Parse a raw query string like Go's ``URL.Query()``: bad pairs (and ``;``) are dropped."""
    values: dict[str, list[bytes]] = {}
    for pair in query.encode("latin-1", errors="replace").split(b"&"):
        if pair == b"" or b";" in pair:
            continue
        key, _, value = pair.partition(b"=")
        try:
            decoded_key = _query_unescape(key)
            decoded_value = _query_unescape(value)
        except ValueError:
            continue
        values.setdefault(os.fsdecode(decoded_key), []).append(decoded_value)
    return values


def _bytewise(name: str) -> bytes:
    return os.fsencode(name)


def _sorted_entries(directory: str) -> list[os.DirEntry[str]]:
    with os.scandir(directory) as scan:
        return sorted(scan, key=lambda e: _bytewise(e.name))


def _recursive(root: str) -> list[str]:
    """Files and symlinks in pre-order (byte-wise within a directory), then the empty directories.

    A directory is empty when nothing at all lies in it; its non-empty ancestors never appear. An explicit
    stack keeps very deep trees from hitting Python's recursion limit.
    """
    files: list[str] = []
    empty: list[str] = []
    stack = [(iter(_sorted_entries(root)), "")]
    while stack:
        entries, prefix = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        relative = prefix + entry.name
        if not entry.is_dir(follow_symlinks=False):
            files.append(relative)
            continue
        children = _sorted_entries(entry.path)
        if children:
            stack.append((iter(children), relative + "/"))
        else:
            empty.append(relative + "/")
    return files + empty


def list_registry(registry: str, query: str) -> list[str]:
    """Answer ``/list`` for a raw query string.

    Returns:
        The listing (possibly empty).

    Raises:
        RequestError: 400 for a bad or non-local ``path``, 500 when the target cannot be listed.
    """
    params = parse_query(query)
    raw_path = params.get("path", [b""])[0]
    recursive = params.get("recursive", [b""])[0] == b"true"
    try:
        decoded = os.fsdecode(_query_unescape(raw_path))
    except ValueError as exc:
        raise RequestError(400, f"invalid 'path'; {exc}") from exc

    target = registry
    if decoded != "":
        if not paths.is_local(decoded):
            raise RequestError(400, "'path' is not local to the registry")
        target = paths.join(registry, decoded)

    try:
        info = os.lstat(target)
    except (OSError, ValueError) as exc:
        # ValueError: a NUL byte, which Go passes to the kernel and gets EINVAL back.
        raise RequestError(
            500, f"failed to obtain a directory listing; {os_error_text('lstat', target, exc)}"
        ) from exc
    if not stat.S_ISDIR(info.st_mode):
        return []
    try:
        if recursive:
            return _recursive(target)
        with os.scandir(target) as scan:
            entries = sorted(scan, key=lambda e: _bytewise(e.name))
        return [e.name + "/" if e.is_dir(follow_symlinks=False) else e.name for e in entries]
    except OSError as exc:
        where = exc.filename if isinstance(exc.filename, str) else target
        detail = os_error_text("open", where, exc)
        raise RequestError(500, f"failed to obtain a directory listing; {detail}") from exc
