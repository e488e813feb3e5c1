"""The HTTP layer: routing like Go 1.22's ``ServeMux``, JSON responses, ``/fetch`` and CORS (section 3).

Built on the standard library's ``ThreadingHTTPServer``: each connection gets a thread, HTTP/1.1
keep-alive is on, and large downloads go through ``socket.sendfile``. Nothing here knows about actions;
``/new`` goes to :meth:`Service.submit` and ``/list`` to :mod:`.listing`.
"""

from __future__ import annotations

import email.utils
import logging
import mimetypes
import os
import posixpath
import stat
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from .errors import RequestError
from .gojson import dumps_compact
from .listing import list_registry
from .service import Service

__all__ = ["GobblerHTTPServer"]

log = logging.getLogger("gobbler_sdk.server.http")

BANNER = {"name": "gobbler API", "url": "https://github.com/ArtifactDB/gobbler"}

# Go's built-in extension table covers these; everything else is sniffed from the content.
_GO_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".gif": "image/gif",
    ".htm": "text/html; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".jpeg": "image/jpeg",
    ".jpg": "image/jpeg",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".mjs": "text/javascript; charset=utf-8",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".webp": "image/webp",
    ".xml": "text/xml; charset=utf-8",
    ".avif": "image/avif",
}
_BINARY_BYTES = frozenset([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20)])


def _sniff(head: bytes) -> str:
    """A small subset of Go's ``http.DetectContentType``: signatures, HTML, text or binary."""
    signatures = [
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"%PDF-", "application/pdf"),
        (b"\x1f\x8b\x08", "application/x-gzip"),
        (b"PK\x03\x04", "application/zip"),
    ]
    for magic, kind in signatures:
        if head.startswith(magic):
            return kind
    stripped = head.lstrip(b"\t\n\x0c\r ").lower()
    if stripped.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<p", b"<div")):
        return "text/html; charset=utf-8"
    if any(byte in _BINARY_BYTES for byte in head):
        return "application/octet-stream"
    return "text/plain; charset=utf-8"


def _content_type(path: str, head: bytes) -> str:
    ext = posixpath.splitext(path)[1].lower()
    if ext in _GO_TYPES:
        return _GO_TYPES[ext]
    guessed = mimetypes.types_map.get(ext)
    return guessed if guessed else _sniff(head)


def _clean_url_path(path: str) -> str:
    """Go's ``cleanPath`` for request paths: rooted, cleaned, trailing slash kept."""
    if path == "":
        return "/"
    if not path.startswith("/"):
        path = "/" + path
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


class _Handler(BaseHTTPRequestHandler):
    server: GobblerHTTPServer
    protocol_version = "HTTP/1.1"

    # ------------------------------------------------------------------ plumbing

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(
            status,
            dumps_compact(value),
            {"Access-Control-Allow-Origin": "*", "Content-Type": "application/json"},
        )

    def _text(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        merged = {"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"}
        merged.update(headers or {})
        self._send(status, body.encode("utf-8"), merged)

    def _redirect(self, location: str, extra: dict[str, str] | None = None) -> None:
        self._send(HTTPStatus.MOVED_PERMANENTLY, b"", {"Location": location, **(extra or {})})

    def _drain_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 16))
            if not chunk:
                break
            length -= len(chunk)

    # ------------------------------------------------------------------ routing

    def do_GET(self) -> None:
        self._route()

    def do_HEAD(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def do_OPTIONS(self) -> None:
        self._drain_body()
        self._send(
            HTTPStatus.NO_CONTENT,
            b"",
            {
                "Access-Control-Allow-Origin": "*",
                "Access-Control-Allow-Methods": "GET, OPTIONS",
                "Access-Control-Allow-Headers": "*",
            },
        )

    def do_PUT(self) -> None:
        self._route()

    def do_DELETE(self) -> None:
        self._route()

    def do_PATCH(self) -> None:
        self._route()

    def _route(self) -> None:
        self._drain_body()
        target = urlsplit(self.path)
        raw_path = target.path or "/"
        cleaned = _clean_url_path(raw_path)
        if cleaned != raw_path:
            self._redirect(cleaned + (f"?{target.query}" if target.query else ""))
            return
        unescaped = unquote(raw_path)

        base = "/" + self.server.service.config.prefix if self.server.service.config.prefix else ""
        method = self.command
        segments = raw_path.split("/")
        base_len = len(base.split("/")) if base else 1
        in_base = raw_path == base + "/" or raw_path.startswith(base + "/")
        rest = segments[base_len:] if in_base else []

        is_new = in_base and len(rest) == 2 and rest[0] == "new" and rest[1] != ""
        if method == "POST" and is_new:
            status, body = self.server.service.submit(unquote(rest[1]))
            self._json(status, body)
            return

        if method in ("GET", "HEAD"):
            if in_base:
                if rest == ["list"]:
                    self._list(target.query)
                elif rest == ["info"]:
                    cfg = self.server.service.config
                    self._json(200, {"registry": cfg.registry, "staging": cfg.staging})
                elif len(rest) >= 2 and rest[0] == "fetch":
                    self._fetch(unescaped[len(base) + len("/fetch") :])
                else:
                    self._json(200, BANNER)
                return
            if base and raw_path == base:
                self._redirect(base + "/")
                return

        allowed = {"OPTIONS"}
        if in_base:
            allowed |= {"GET", "HEAD"}
        if is_new:
            allowed.add("POST")
        self._text(
            HTTPStatus.METHOD_NOT_ALLOWED, "Method Not Allowed\n", {"Allow": ", ".join(sorted(allowed))}
        )

    # ------------------------------------------------------------------ endpoints

    def _list(self, query: str) -> None:
        try:
            listing = list_registry(self.server.service.config.registry, query)
        except RequestError as exc:
            self._json(exc.status, {"reason": exc.reason, "status": "ERROR"})
            return
        self._json(200, listing)

    def _fetch(self, url_path: str) -> None:
        cors = {"Access-Control-Allow-Origin": "*"}
        if url_path.endswith("/index.html"):
            self._redirect("./", cors)
            return
        name = posixpath.normpath("/" + url_path.lstrip("/")).lstrip("/")
        full = (
            os.path.join(self.server.service.config.registry, name)
            if name not in ("", ".")
            else (self.server.service.config.registry)
        )
        try:
            handle = open(full, "rb")  # noqa: SIM115 - closed below, after sendfile
        except FileNotFoundError:
            self._text(404, "404 page not found\n", cors)
            return
        except NotADirectoryError:
            self._text(404, "404 page not found\n", cors)
            return
        except IsADirectoryError:
            handle = None
        except PermissionError:
            self._text(403, "403 Forbidden\n", cors)
            return
        except OSError:
            self._text(500, "500 Internal Server Error\n", cors)
            return

        if handle is None or stat.S_ISDIR(os.fstat(handle.fileno()).st_mode):
            if handle is not None:
                handle.close()
            self._directory(full, url_path, cors)
            return
        with handle:
            if url_path.endswith("/"):
                self._redirect("../" + posixpath.basename(url_path.rstrip("/")), cors)
                return
            self._file(handle, full, cors)

    def _directory(self, full: str, url_path: str, cors: dict[str, str]) -> None:
        if not url_path.endswith("/"):
            self._redirect(posixpath.basename(url_path) + "/", cors)
            return
        index = os.path.join(full, "index.html")
        if os.path.isfile(index):
            with open(index, "rb") as handle:
                self._file(handle, index, cors)
            return
        try:
            names = sorted(os.listdir(full), key=os.fsencode)
        except OSError:
            self._text(500, "500 Internal Server Error\n", cors)
            return
        rows = []
        for name in names:
            shown = name + "/" if os.path.isdir(os.path.join(full, name)) else name
            rows.append(f'<a href="{quote(shown)}">{_html_escape(shown)}</a>\n')
        body = '<!doctype html>\n<meta name="viewport" content="width=device-width">\n<pre>\n'
        body += "".join(rows) + "</pre>\n"
        self._send(200, body.encode("utf-8"), {"Content-Type": "text/html; charset=utf-8", **cors})

    def _file(self, handle: Any, full: str, cors: dict[str, str]) -> None:
        info = os.fstat(handle.fileno())
        size = info.st_size
        modified = email.utils.formatdate(int(info.st_mtime), usegmt=True)
        since = self.headers.get("If-Modified-Since")
        if since and self.headers.get("If-None-Match") is None:
            parsed = email.utils.parsedate_to_datetime(since) if _safe_date(since) else None
            if parsed is not None and int(info.st_mtime) <= parsed.timestamp():
                self._send(304, b"", {"Last-Modified": modified, **cors})
                return
        head = handle.read(512)
        headers = {
            "Accept-Ranges": "bytes",
            "Content-Type": _content_type(full, head),
            "Last-Modified": modified,
            **cors,
        }
        start, end = 0, size
        status = 200
        spec = self.headers.get("Range")
        if spec:
            parsed_range = _parse_range(spec, size)
            if parsed_range is None:
                self._text(
                    416, "invalid range: failed to overlap\n", {"Content-Range": f"bytes */{size}", **cors}
                )
                return
            if parsed_range != (0, size):
                start, end = parsed_range
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if self.command == "HEAD" or end == start:
            return
        self.wfile.flush()
        self.connection.sendfile(handle, start, end - start)


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")


def _safe_date(text: str) -> bool:
    try:
        email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return False
    return True


def _parse_range(spec: str, size: int) -> tuple[int, int] | None:
    """Parse a single ``bytes=a-b`` range; several ranges are served as the whole file."""
    if not spec.startswith("bytes=") or "," in spec:
        return (0, size)
    first, _, last = spec[len("bytes=") :].strip().partition("-")
    try:
        if first == "":
            suffix = int(last)
            return (max(size - suffix, 0), size) if suffix > 0 and size > 0 else None
        start = int(first)
        stop = size if last == "" else min(int(last) + 1, size)
    except ValueError:
        return (0, size)
    if start >= size or stop <= start:
        return None
    return (start, stop)


class GobblerHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server bound to one :class:`Service`.

    Args:
        address: ``(host, port)`` to bind; port 0 picks a free port.
        service: The service answering requests.
    """

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], service: Service) -> None:
        self.service = service
        super().__init__(address, _Handler)
