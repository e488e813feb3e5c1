"""The HTTP layer: routing like Go 1.22's ``ServeMux``, JSON responses and CORS (PROTOCOL.md section 3).

Built on the standard library's ``ThreadingHTTPServer``: each connection gets a thread, HTTP/1.1
keep-alive is on, and downloads go through ``socket.sendfile``. Nothing here knows about actions:
``/new`` goes to :meth:`Service.submit`, ``/list`` to :mod:`.listing` and ``/fetch`` to :mod:`.static`.

The reference registers six patterns on Go's router; the observable consequences reproduced here are:
paths are cleaned first (``/a/../b`` and ``//x`` answer 301, with Go's double escaping of the location),
segments are compared after percent-decoding (``/%69nfo`` is ``/info``), a GET for a sub-tree root
without its slash (``/fetch``, ``/{prefix}``) redirects to the slash, any GET under the prefix that nothing
else claims gets the banner, and a method no pattern accepts gets 405 with the methods that would have
matched the path (or the path plus a slash) in ``Allow``.
"""

from __future__ import annotations

import email.message
import email.parser
import http.client
import logging
import os
import re
import socket
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote_to_bytes

from . import paths, static
from .errors import RequestError
from .gojson import dumps_compact
from .listing import list_registry
from .service import Service

__all__ = ["BANNER", "GobblerHTTPServer"]

log = logging.getLogger("gobbler_sdk.server.http")

BANNER = {"name": "gobbler API", "url": "https://github.com/ArtifactDB/gobbler"}

_CORS = {"Access-Control-Allow-Origin": "*"}
# Bytes Go leaves alone when deciding whether a raw path is a valid encoding of itself.
_VALID_IN_PATH = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~!$&'()*+,;=:@[]%/"
)
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_SCHEME = re.compile(rb"^[A-Za-z][A-Za-z0-9+.-]*:")
# A target with nothing to decode or escape (no query either): it is its own canonical path.
_PLAIN_TARGET = re.compile(rb"/[A-Za-z0-9_.~$&+,/:;=@-]*")
_MAX_DRAIN = 1 << 20
# The standard library's limits on request headers (longer lines and more lines get a 431).
_MAX_HEADER_LINE = 65536
_MAX_HEADERS = 100
# A header line the email parser would read as exactly ``name: value``: a name of the characters it accepts,
# a value of printable ASCII, one line ending. Anything else (continuations, stray CRs, other bytes) is
# left to the email parser itself.
_PLAIN_HEADER = re.compile(rb"([!-9;-~]+):[ \t]*([\t -~]*)\r?\n")


@dataclass(frozen=True)
class _Route:
    """One registered pattern: method, literal segments, and what may follow them."""

    method: str
    literal: tuple[bytes, ...]
    shape: str  # "exact", "single" (one more non-empty segment) or "tree" (anything below, trailing slash)
    name: str

    def matches(self, segments: list[bytes]) -> bool:
        size = len(self.literal)
        if tuple(segments[:size]) != self.literal:
            return False
        if self.shape == "exact":
            return len(segments) == size
        if self.shape == "single":
            return len(segments) == size + 1 and segments[-1] != b""
        return len(segments) > size

    def exact(self, segments: list[bytes]) -> bool:
        """Go's ``exactMatch``: a sub-tree pattern matches exactly only its own root."""
        return self.shape != "tree" or (len(segments) == len(self.literal) + 1 and segments[-1] == b"")


def _routes(prefix: str) -> list[_Route]:
    """The reference's patterns, most specific first."""
    base = tuple(os.fsencode(part) for part in prefix.split("/")) if prefix else ()
    return [
        _Route("POST", (*base, b"new"), "single", "new"),
        _Route("GET", (*base, b"list"), "exact", "list"),
        _Route("GET", (*base, b"info"), "exact", "info"),
        _Route("GET", (*base, b"fetch"), "tree", "fetch"),
        _Route("GET", base, "tree", "banner"),
        _Route("OPTIONS", (), "tree", "options"),
    ]


def _segments(escaped_path: bytes) -> list[bytes]:
    parts = escaped_path[1:].split(b"/")
    return [unquote_to_bytes(part) for part in parts] if b"%" in escaped_path else parts


def _go_escape(path: bytes) -> bytes:
    return static.go_escape_path(os.fsdecode(path)).encode("ascii")


def _clean_path(path: bytes) -> bytes:
    """Go's ``cleanPath`` for request paths: rooted, cleaned, trailing slash kept."""
    if path == b"":
        return b"/"
    if not path.startswith(b"/"):
        path = b"/" + path
    cleaned = paths.clean(path.decode("latin-1")).encode("latin-1")
    if path.endswith(b"/") and cleaned != b"/":
        cleaned += b"/"
    return cleaned


class _BadRequest(Exception):
    """The request line cannot be parsed the way Go's server would accept it."""


@dataclass(frozen=True)
class _Target:
    path: bytes  # percent-decoded
    raw_path: bytes  # as sent, or b"" when it is the canonical encoding of ``path``
    escaped: bytes  # Go's EscapedPath()
    query: str  # raw query, latin-1


def _parse_target(target: str) -> _Target:
    """Split a request target like Go's ``url.ParseRequestURI``.

    Raises:
        _BadRequest: For control characters, a target that is neither a path nor an absolute URL, or a
            broken percent escape in the path.
    """
    raw = target.encode("latin-1", errors="replace")
    if _PLAIN_TARGET.fullmatch(raw):
        return _Target(raw, b"", raw, "")
    if any(byte < 0x20 or byte == 0x7F for byte in raw):
        raise _BadRequest
    if raw.endswith(b"?") and raw.count(b"?") == 1:
        rest, query = raw[:-1], b""
    else:
        rest, _, query = raw.partition(b"?")
    if not rest.startswith(b"/"):
        scheme = _SCHEME.match(rest)
        if scheme is None:
            raise _BadRequest
        rest = rest[scheme.end() :]
        if rest.startswith(b"//"):
            slash = rest.find(b"/", 2)
            rest = b"" if slash < 0 else rest[slash:]
        elif not rest.startswith(b"/"):
            rest = b""  # an opaque URL: no path at all
    if _BAD_ESCAPE.search(rest):
        raise _BadRequest
    path = unquote_to_bytes(rest)
    raw_path = b"" if _go_escape(path) == rest else rest
    # Go's EscapedPath(): the raw form when it is a valid encoding, else the canonical one.
    valid = raw_path and all(byte in _VALID_IN_PATH for byte in raw_path)
    escaped = raw_path if valid else _go_escape(path)
    return _Target(path, raw_path, escaped, query.decode("latin-1"))


def _read_headers(rfile: Any) -> email.message.Message:
    """The request's headers, as ``http.client.parse_headers`` reads them, without its cost for plain ones.

    The email parser behind ``parse_headers`` took about 40 µs per request, a quarter of the time a small
    file costs; a block of plain ``name: value`` lines is read into the same message type directly.

    Raises:
        http.client.LineTooLong: For a line longer than 65,536 bytes.
        http.client.HTTPException: For more than 100 lines.
    """
    lines: list[bytes] = []
    while True:
        line = rfile.readline(_MAX_HEADER_LINE + 1)
        if len(line) > _MAX_HEADER_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > _MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            break
    message = http.client.HTTPMessage()
    for line in lines[:-1]:
        plain = _PLAIN_HEADER.fullmatch(line)
        if plain is None:
            text = b"".join(lines).decode("iso-8859-1")
            parsed: email.message.Message = email.parser.Parser(_class=http.client.HTTPMessage).parsestr(text)
            return parsed
        message[plain[1].decode("ascii")] = plain[2].decode("ascii")
    return message


class _Clock:
    """``Date`` header values, formatted once per second (``email.utils.formatdate`` costs ~6 µs)."""

    def __init__(self) -> None:
        self._cached: tuple[int, str] = (0, "")

    def now(self, format_time: Any) -> str:
        second = int(time.time())
        cached = self._cached
        if cached[0] != second:
            cached = (second, format_time(second))
            self._cached = cached
        return cached[1]


_CLOCK = _Clock()


class _Handler(BaseHTTPRequestHandler):
    server: GobblerHTTPServer
    protocol_version = "HTTP/1.1"

    # ------------------------------------------------------------------ plumbing

    def log_message(self, format: str, *args: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s", self.address_string(), format % args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if log.isEnabledFor(logging.DEBUG):
            super().log_request(code, size)

    def date_time_string(self, timestamp: float | None = None) -> str:
        if timestamp is not None:
            return super().date_time_string(timestamp)
        return _CLOCK.now(super().date_time_string)

    def parse_request(self) -> bool:
        """Parse the request line and headers as ``BaseHTTPRequestHandler.parse_request`` does.

        The same checks in the same order (errors go through :meth:`send_error`, which answers like Go);
        only the headers are read by :func:`_read_headers`.
        """
        self.command = None  # type: ignore[assignment]  # as the standard library leaves it on errors
        self.request_version = version = self.default_request_version
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if not words:
            return False
        if len(words) >= 3:
            version = words[-1]
            try:
                if not version.startswith("HTTP/"):
                    raise ValueError
                numbers = version.split("/", 1)[1].split(".")
                if len(numbers) != 2 or any(not n.isdigit() or len(n) > 10 for n in numbers):
                    raise ValueError
                number = int(numbers[0]), int(numbers[1])
            except (ValueError, IndexError):
                self.send_error(HTTPStatus.BAD_REQUEST)
                return False
            if number >= (1, 1) and self.protocol_version >= "HTTP/1.1":
                self.close_connection = False
            if number >= (2, 0):
                self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED)
                return False
            self.request_version = version
        if not 2 <= len(words) <= 3:
            self.send_error(HTTPStatus.BAD_REQUEST)
            return False
        command, path = words[:2]
        if len(words) == 2:
            self.close_connection = True
            if command != "GET":
                self.send_error(HTTPStatus.BAD_REQUEST)
                return False
        self.command, self.path = command, path
        if self.path.startswith("//"):
            self.path = "/" + self.path.lstrip("/")
        try:
            self.headers = _read_headers(self.rfile)
        except http.client.HTTPException:  # LineTooLong included
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            return False
        connection = self.headers.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        expect = self.headers.get("Expect", "").lower()
        if expect == "100-continue" and self.protocol_version >= "HTTP/1.1" and version >= "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def handle_one_request(self) -> None:
        """Read one request and route it whatever its method (Go's router, not ``do_<METHOD>``)."""
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.requestline = self.request_version = self.command = ""
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self._dispatch()
            self.wfile.flush()
        except TimeoutError:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer a malformed request the way Go's server does: raw text, then close the connection."""
        self._raw_error(f"{int(code)} {HTTPStatus(code).phrase}")

    def _raw_error(self, text: str) -> None:
        self.close_connection = True
        payload = (
            f"HTTP/1.1 {text}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n{text}"
        )
        try:
            self.wfile.write(payload.encode("latin-1", errors="replace"))
            self.wfile.flush()
        except OSError:
            pass

    def send_response(self, code: int, message: str | None = None) -> None:
        """Status line and ``Date``, without the ``Server`` header Go does not send."""
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def send_response_only(self, code: int, message: str | None = None) -> None:
        """Status line in the request's HTTP version (HTTP/1.0 clients get HTTP/1.0 back, as from Go)."""
        if message is None:
            message = self.responses[code][0] if code in self.responses else ""
        version = "HTTP/1.0" if self.request_version == "HTTP/1.0" else self.protocol_version
        if not hasattr(self, "_headers_buffer"):
            self._headers_buffer = []
        self._headers_buffer.append(f"{version} {code} {message}\r\n".encode("latin-1", "strict"))

    def setup(self) -> None:
        """Disable Nagle's algorithm: a response is often written in two pieces on a kept-alive socket."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _start(self, status: int, headers: dict[str, str], length: int | None, body: bytes = b"") -> None:
        """Send the status line and headers, and ``body`` with them in one write."""
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if length is not None:
            self.send_header("Content-Length", str(length))
        if self.close_connection and self.request_version != "HTTP/1.0":
            self.send_header("Connection", "close")
        elif not self.close_connection and self.request_version == "HTTP/1.0":
            self.send_header("Connection", "keep-alive")
        self._headers_buffer.append(b"\r\n" + body)
        self.flush_headers()

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        """Send a complete response; Content-Length follows Go (none for 204/304, none for empty HEAD)."""
        length: int | None = len(body)
        if status in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED) or (
            self.command == "HEAD" and not body
        ):
            length = None
        self._start(status, headers, length, body if self.command != "HEAD" else b"")

    def _json(self, status: int, value: Any) -> None:
        self._send(status, dumps_compact(value), {**_CORS, "Content-Type": "application/json"})

    def _text_error(self, status: int, message: str, headers: dict[str, str]) -> None:
        """Go's ``http.Error``."""
        merged = {**headers, "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"}
        self._send(status, (message + "\n").encode(), merged)

    def _redirect(self, location: bytes, query: str) -> None:
        """Go's ``http.Redirect`` with 301: the path cleaned (trailing slash kept), an HTML body for GET."""
        trailing = location.endswith(b"/")
        cleaned = paths.clean(location.decode("latin-1"))
        if trailing and not cleaned.endswith("/"):
            cleaned += "/"
        url = cleaned + ("?" + query if query else "")
        # Only the header gets bytes beyond ASCII (from a raw query) escaped, in lower-case hex like Go.
        headers = {"Location": "".join(c if c.isascii() else f"%{ord(c):02x}" for c in url)}
        body = b""
        if self.command in ("GET", "HEAD"):
            headers["Content-Type"] = "text/html; charset=utf-8"
        if self.command == "GET":
            body = f'<a href="{static.html_escape(url)}">Moved Permanently</a>.\n\n'.encode("latin-1")
        self._send(HTTPStatus.MOVED_PERMANENTLY, body, headers)

    def _drain_body(self) -> bool:
        """Consume the request body (ignored by every route) so the connection can be reused.

        Returns:
            ``False`` when the framing is broken and an error has already been sent.
        """
        encoding = (self.headers.get("Transfer-Encoding") or "").lower()
        if encoding:
            if encoding != "chunked":
                self._raw_error("501 Not Implemented")
                return False
            return self._drain_chunked()
        declared = self.headers.get("Content-Length")
        if declared is None:
            return True
        if not declared.strip().isdigit():
            self._raw_error("400 Bad Request")
            return False
        remaining = int(declared)
        if remaining > _MAX_DRAIN:
            self.close_connection = True
            return True
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                break
            remaining -= len(chunk)
        return True

    def _drain_chunked(self) -> bool:
        total = 0
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self._raw_error("400 Bad Request")
                return False
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return True
            total += size
            if total > _MAX_DRAIN:
                self.close_connection = True
                return True
            self.rfile.read(size + 2)

    # ------------------------------------------------------------------ routing

    def _dispatch(self) -> None:
        if self.request_version != "HTTP/1.0" and "Host" not in self.headers:
            self._raw_error("400 Bad Request: missing required Host header")
            return
        if not self._drain_body():
            return
        # Python collapses a leading "//" in self.path; Go sees the target as sent.
        words = self.requestline.split()
        raw_target = words[1] if len(words) >= 2 else self.path
        if raw_target == "*":
            if self.command == "OPTIONS":
                self._start(HTTPStatus.OK, {}, 0)
            else:
                self._start(HTTPStatus.BAD_REQUEST, {"Connection": "close"}, 0)
                self.close_connection = True
            return
        try:
            target = _parse_target(raw_target)
        except _BadRequest:
            self._raw_error("400 Bad Request")
            return

        method = self.command
        cleaned = _clean_path(target.escaped)
        segments = _segments(cleaned)
        route = self._match(method, segments)
        # With a slash added, only a path naming a sub-tree's root can match exactly (no longer one can).
        if (
            (route is None or not route.exact(segments))
            and not cleaned.endswith(b"/")
            and len(segments) <= self.server.longest_literal
        ):
            slashed = _segments(cleaned + b"/")
            other = self._match(method, slashed)
            if other is not None and other.exact(slashed):
                self._redirect(_go_escape(_clean_path(target.path) + b"/"), target.query)
                return
        if cleaned != target.escaped:
            # Go builds the location from the already-escaped path, so it gets escaped twice.
            self._redirect(_go_escape(cleaned), target.query)
            return
        if route is None:
            self._not_allowed(segments, cleaned)
            return

        if route.name == "options":
            self._send(
                HTTPStatus.NO_CONTENT,
                b"",
                {
                    **_CORS,
                    "Access-Control-Allow-Methods": "GET, OPTIONS",
                    "Access-Control-Allow-Headers": "*",
                },
            )
        elif route.name == "new":
            status, body = self.server.service.submit(os.fsdecode(segments[-1]))
            self._json(status, body)
        elif route.name == "list":
            self._list(target.query)
        elif route.name == "info":
            config = self.server.service.config
            self._json(HTTPStatus.OK, {"registry": config.registry, "staging": config.staging})
        elif route.name == "fetch":
            self._fetch(target)
        else:
            self._json(HTTPStatus.OK, BANNER)

    def _match(self, method: str, segments: list[bytes]) -> _Route | None:
        for route in self.server.routes:
            allowed = route.method == method or (method == "HEAD" and route.method == "GET")
            if allowed and route.matches(segments):
                return route
        return None

    def _not_allowed(self, segments: list[bytes], cleaned: bytes) -> None:
        candidates = [segments]
        if not cleaned.endswith(b"/"):
            candidates.append(_segments(cleaned + b"/"))
        allowed = {r.method for r in self.server.routes for s in candidates if r.matches(s)}
        if "GET" in allowed:
            allowed.add("HEAD")
        self._text_error(
            HTTPStatus.METHOD_NOT_ALLOWED, "Method Not Allowed", {"Allow": ", ".join(sorted(allowed))}
        )

    # ------------------------------------------------------------------ endpoints

    def _list(self, query: str) -> None:
        try:
            listing = list_registry(self.server.service.config.registry, query)
        except RequestError as exc:
            self._json(exc.status, {"reason": exc.reason, "status": "ERROR"})
            return
        self._json(HTTPStatus.OK, listing)

    def _fetch(self, target: _Target) -> None:
        # Go's StripPrefix: both the decoded and (when present) the raw path must carry the prefix.
        strip = os.fsencode(self.server.fetch_prefix)
        if not target.path.startswith(strip) or (target.raw_path and not target.raw_path.startswith(strip)):
            self._text_error(HTTPStatus.NOT_FOUND, "404 page not found", dict(_CORS))
            return
        url_path = os.fsdecode(target.path[len(strip) :])
        headers: dict[str, str] = {}
        for key, value in self.headers.items():
            headers.setdefault(key.lower(), value)  # Go's Header.Get reads the first value
        reply = static.serve(
            self.server.service.config.registry, url_path, target.query, self.command, headers
        )
        try:
            if all(isinstance(segment, bytes) for segment in reply.segments):
                # A small file read whole: headers and body leave in one write.
                body = b"".join(s for s in reply.segments if isinstance(s, bytes))
                self._start(reply.status, reply.headers, reply.length, body)
                return
            self._start(reply.status, reply.headers, reply.length)
            for segment in reply.segments:
                if isinstance(segment, bytes):
                    self.wfile.write(segment)
                    continue
                offset, count = segment
                if count <= 0 or reply.fd is None:
                    continue
                self.wfile.flush()
                with os.fdopen(os.dup(reply.fd), "rb") as handle:
                    self.connection.sendfile(handle, offset, count)
        finally:
            if reply.fd is not None:
                os.close(reply.fd)


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
        self.routes = _routes(service.config.prefix)
        self.longest_literal = max(len(route.literal) for route in self.routes)
        prefix = service.config.prefix
        self.fetch_prefix = (f"/{prefix}" if prefix else "") + "/fetch"
        super().__init__(address, _Handler)
