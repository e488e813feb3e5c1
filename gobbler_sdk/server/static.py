"""``GET /fetch/{path}``: a static file server over the registry that answers like Go's ``http.FileServer``.

Like the reference service, it answers 200 with the bytes (symlinks followed) and a text 404 for missing
paths; it also reproduces what a client might look at beyond that: ``Content-Type`` (see
:mod:`.content_types`), ``Last-Modified``, ``Range`` (206, multipart for several ranges, 416),
conditional requests (304, 412), directory redirects and listings.

Nothing here writes to a socket: :func:`serve` returns a :class:`Reply` that the HTTP layer sends.
"""

from __future__ import annotations

import email.utils
import errno
import functools
import os
import secrets
import stat
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import quote_from_bytes

from . import paths
from .content_types import SNIFF_LENGTH, sniff, type_by_extension

__all__ = ["Reply", "go_escape_path", "html_escape", "serve"]

INDEX_PAGE = "/index.html"
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK

# Files up to this size are read whole and sent with their headers in one write: for a small file the
# dup + sendfile route cost more system calls (each one a release and re-acquisition of the GIL) than
# the bytes themselves.
INLINE_LIMIT = 64 * 1024

# A Segment is a literal chunk of the body or an (offset, length) region of the open file.
Segment = bytes | tuple[int, int]


@dataclass
class Reply:
    """A response to send: status, headers, body segments, and the file the regions refer to.

    ``length`` is the Content-Length to announce, ``None`` for none (Go sends none on 204/304 and on a
    HEAD whose body was never produced).
    """

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)
    fd: int | None = None
    length: int | None = 0


# ---------------------------------------------------------------------------------------------- escaping


def go_escape_path(text: str) -> str:
    """Escape a URL path like Go's ``url.URL.EscapedPath`` (``$&+,/:;=@`` stay, the rest is %XX)."""
    return quote_from_bytes(os.fsencode(text), safe="$&+,/:;=@")


def html_escape(text: str) -> str:
    """Go's ``htmlReplacer``: ``& < > " '`` become entities."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


def _go_base(path: str) -> str:
    """Go's ``path.Base``: last element after dropping trailing slashes; ``.`` for empty, ``/`` for root."""
    if path == "":
        return "."
    stripped = path.rstrip("/")
    if stripped == "":
        return "/"
    return stripped.rsplit("/", 1)[-1]


# ---------------------------------------------------------------------------------------------- conditions


@functools.lru_cache(maxsize=4096)
def _http_date(seconds: int) -> str:
    return email.utils.formatdate(seconds, usegmt=True)


def _parse_http_date(text: str) -> int | None:
    """Seconds since the epoch for the three date formats HTTP allows, else ``None``."""
    for layout in ("%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %d %H:%M:%S %Y"):
        try:
            parsed = datetime.strptime(text, layout)
        except ValueError:
            continue
        return int(parsed.replace(tzinfo=timezone.utc).timestamp())
    return None


def _etag_list_has_star(value: str) -> bool | None:
    """For If-Match/If-None-Match without an ETag on our side: ``True`` if ``*`` is listed.

    Returns ``None`` for an empty header (no condition).
    """
    items = [item.strip() for item in value.split(",")]
    items = [item for item in items if item]
    if not items:
        return None
    return "*" in items


def _preconditions(headers: dict[str, str], method: str, mtime: int) -> tuple[int | None, str]:
    """RFC 7232 section 6 as Go applies it when there is no ETag.

    Returns:
        ``(status, range_header)``: a 304/412 status to answer with right away (or ``None``), and the
        Range header still to honour (emptied by a failed If-Range).
    """
    zero = mtime == 0
    condition: bool | None = None
    if_match = headers.get("if-match", "")
    if if_match:
        condition = bool(_etag_list_has_star(if_match))
    elif headers.get("if-unmodified-since") and not zero:
        since = _parse_http_date(headers["if-unmodified-since"])
        if since is not None:
            condition = mtime <= since
    if condition is False:
        return 412, ""

    none_match = headers.get("if-none-match", "")
    if none_match:
        if _etag_list_has_star(none_match):
            return (304 if method in ("GET", "HEAD") else 412), ""
    elif method in ("GET", "HEAD") and headers.get("if-modified-since") and not zero:
        since = _parse_http_date(headers["if-modified-since"])
        if since is not None and mtime <= since:
            return 304, ""

    range_header = headers.get("range", "")
    if_range = headers.get("if-range", "")
    if range_header and if_range and method in ("GET", "HEAD"):
        if if_range.startswith(('"', 'W/"')):
            range_header = ""  # an entity tag never matches: we send none
        else:
            when = _parse_http_date(if_range)
            if zero or when is None or when != mtime:
                range_header = ""
    return None, range_header


class _RangeError(ValueError):
    def __init__(self, message: str, no_overlap: bool = False) -> None:
        super().__init__(message)
        self.no_overlap = no_overlap


def _parse_ranges(spec: str, size: int) -> list[tuple[int, int]]:
    """Go's ``parseRange``: ``(start, length)`` pairs, ``[]`` when there is no header."""
    if spec == "":
        return []
    if not spec.startswith("bytes="):
        raise _RangeError("invalid range")
    ranges: list[tuple[int, int]] = []
    no_overlap = False
    for part in spec[len("bytes=") :].split(","):
        part = part.strip(" \t")
        if part == "":
            continue
        first, dash, last = part.partition("-")
        if not dash:
            raise _RangeError("invalid range")
        first, last = first.strip(" \t"), last.strip(" \t")
        if first == "":
            if last == "" or last.startswith("-") or not _is_int(last):
                raise _RangeError("invalid range")
            suffix = min(int(last), size)
            ranges.append((size - suffix, suffix))
            continue
        if not _is_int(first) or int(first) < 0:
            raise _RangeError("invalid range")
        start = int(first)
        if start >= size:
            no_overlap = True
            continue
        if last == "":
            ranges.append((start, size - start))
            continue
        if not _is_int(last) or start > int(last):
            raise _RangeError("invalid range")
        ranges.append((start, min(int(last), size - 1) - start + 1))
    if no_overlap and not ranges:
        raise _RangeError("invalid range: failed to overlap", no_overlap=True)
    return ranges


def _is_int(text: str) -> bool:
    body = text[1:] if text[:1] in "+-" else text
    return body.isascii() and body.isdigit() and int(text) < (1 << 63)


# ---------------------------------------------------------------------------------------------- serving


def _error(status: int, message: str, headers: dict[str, str]) -> Reply:
    merged = {**headers, "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"}
    merged.pop("Content-Length", None)
    body = (message + "\n").encode()
    return Reply(status, merged, [body], length=len(body))


def _local_redirect(target: str, raw_query: str, headers: dict[str, str]) -> Reply:
    location = target + ("?" + raw_query if raw_query else "")
    return Reply(301, {**headers, "Location": location}, length=0)


def _open_error(full: str, exc: OSError | ValueError, headers: dict[str, str]) -> Reply:
    """Go's ``toHTTPError`` after ``mapOpenError``: 404, 403 or 500."""
    code = exc.errno if isinstance(exc, OSError) else errno.EINVAL
    if code == errno.ENOENT:
        return _error(404, "404 page not found", headers)
    if code in (errno.EACCES, errno.EPERM):
        return _error(403, "403 Forbidden", headers)
    # A regular file where a directory was expected along the way means "does not exist".
    parts = full.split("/")
    for index in range(len(parts)):
        if parts[index] == "":
            continue
        try:
            info = os.stat("/".join(parts[: index + 1]))
        except (OSError, ValueError):
            break
        if not stat.S_ISDIR(info.st_mode):
            return _error(404, "404 page not found", headers)
    return _error(500, "500 Internal Server Error", headers)


def serve(
    registry: str, url_path: str, raw_query: str, method: str, request_headers: dict[str, str]
) -> Reply:
    """Answer a ``/fetch`` request for ``url_path`` (unescaped, relative to ``/fetch``, leading ``/``).

    Args:
        registry: Registry root.
        url_path: Path after the ``/fetch`` prefix, as Go's ``StripPrefix`` leaves it.
        raw_query: Raw query string (kept on redirects).
        method: ``GET`` or ``HEAD``.
        request_headers: Request headers with lower-case names.

    Returns:
        The reply; the caller must close ``reply.fd`` when it is set.
    """
    cors = {"Access-Control-Allow-Origin": "*"}
    if not url_path.startswith("/"):
        url_path = "/" + url_path
    if url_path.endswith(INDEX_PAGE):
        return _local_redirect("./", raw_query, cors)
    name = paths.clean(url_path)
    full = registry + name if name != "/" else registry
    try:
        # Non-blocking: opening a FIFO (say, a whitelisted link's target swapped for one) must not stall
        # the thread serving reads; regular files and directories ignore the flag.
        fd = os.open(full, _OPEN_FLAGS)
    except (OSError, ValueError) as exc:
        return _open_error(full, exc, cors)
    keep_open = False
    try:
        info = os.fstat(fd)
        if stat.S_ISFIFO(info.st_mode) or stat.S_ISSOCK(info.st_mode):
            return _error(403, "403 Forbidden", cors)
        is_dir = stat.S_ISDIR(info.st_mode)
        if is_dir and not url_path.endswith("/"):
            return _local_redirect(_go_base(url_path) + "/", raw_query, cors)
        if not is_dir and url_path.endswith("/"):
            base = _go_base(url_path)
            return _local_redirect("../" + ("" if base in ("/", ".") else base), raw_query, cors)
        served_name = _go_base(name)
        if is_dir:
            index = full.rstrip("/") + INDEX_PAGE
            try:
                index_fd = os.open(index, _OPEN_FLAGS)
            except (OSError, ValueError):
                return _directory(full, info, method, request_headers, cors)
            os.close(fd)
            fd = index_fd
            info = os.fstat(fd)
            if stat.S_ISFIFO(info.st_mode) or stat.S_ISSOCK(info.st_mode):
                return _error(403, "403 Forbidden", cors)
            served_name = "index.html"
            if stat.S_ISDIR(info.st_mode):
                # Go lists whatever it opened last, here a directory called index.html.
                return _directory(index, info, method, request_headers, cors)
        reply = _file(fd, info, served_name, method, request_headers, cors)
        keep_open = reply.fd is not None
        return reply
    finally:
        if not keep_open:
            os.close(fd)


def _directory(
    full: str, info: os.stat_result, method: str, request_headers: dict[str, str], cors: dict[str, str]
) -> Reply:
    mtime = int(info.st_mtime)
    headers = dict(cors)
    since = request_headers.get("if-modified-since")
    if method in ("GET", "HEAD") and since and mtime != 0:
        when = _parse_http_date(since)
        if when is not None and mtime <= when:
            return Reply(304, headers, length=None)
    if mtime != 0:
        headers["Last-Modified"] = _http_date(mtime)
    try:
        entries = sorted(os.scandir(full), key=lambda e: os.fsencode(e.name))
    except OSError:
        return _error(500, "Error reading directory", headers)
    rows = []
    for entry in entries:
        shown = entry.name + "/" if entry.is_dir(follow_symlinks=False) else entry.name
        href = go_escape_path(shown)
        if ":" in href.split("/", 1)[0]:
            href = "./" + href  # a colon in the first segment would read as a scheme
        rows.append(f'<a href="{href}">{html_escape(shown)}</a>\n')
    page = '<!doctype html>\n<meta name="viewport" content="width=device-width">\n<pre>\n'
    body = (page + "".join(rows) + "</pre>\n").encode("utf-8", errors="surrogateescape")
    headers["Content-Type"] = "text/html; charset=utf-8"
    return Reply(200, headers, [body], length=len(body))


def _file(
    fd: int,
    info: os.stat_result,
    name: str,
    method: str,
    request_headers: dict[str, str],
    cors: dict[str, str],
) -> Reply:
    mtime = int(info.st_mtime)
    size = info.st_size
    headers = dict(cors)
    if mtime != 0:
        headers["Last-Modified"] = _http_date(mtime)
    status, range_header = _preconditions(request_headers, method, mtime)
    if status == 304:
        return Reply(304, headers, length=None)
    if status == 412:
        return Reply(412, headers, length=0)

    whole = os.pread(fd, size, 0) if 0 < size <= INLINE_LIMIT else None
    if whole is not None and len(whole) != size:
        whole = None  # the file changed since fstat: let the region be sent as for a large file
    kind = type_by_extension(name) or sniff(
        whole[:SNIFF_LENGTH] if whole is not None else os.pread(fd, SNIFF_LENGTH, 0)
    )
    headers["Content-Type"] = kind

    try:
        ranges = _parse_ranges(range_header, size)
    except _RangeError as exc:
        if not (exc.no_overlap and size == 0):
            if exc.no_overlap:
                headers["Content-Range"] = f"bytes */{size}"
            return _error(416, str(exc), headers)
        ranges = []
    if sum(length for _, length in ranges) > size:
        ranges = []  # more bytes asked for than the file holds: serve it whole

    segments: list[Segment]
    if len(ranges) == 1:
        start, length = ranges[0]
        status_code = 206
        headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
        segments = [(start, length)]
    elif len(ranges) > 1:
        status_code = 206
        boundary = secrets.token_hex(30)
        segments = []
        for index, (start, length) in enumerate(ranges):
            part = (
                f"{'' if index == 0 else chr(13) + chr(10)}--{boundary}\r\n"
                f"Content-Range: bytes {start}-{start + length - 1}/{size}\r\n"
                f"Content-Type: {kind}\r\n\r\n"
            )
            segments += [part.encode(), (start, length)]
        segments.append(f"\r\n--{boundary}--\r\n".encode())
        headers["Content-Type"] = f"multipart/byteranges; boundary={boundary}"
    else:
        status_code = 200
        segments = [whole if whole is not None else (0, size)]
    total = sum(len(s) if isinstance(s, bytes) else s[1] for s in segments)
    headers["Accept-Ranges"] = "bytes"
    return Reply(status_code, headers, segments if method != "HEAD" else [], fd=fd, length=total)
