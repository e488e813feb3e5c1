"""The HTTP layer: routing like Go 1.22's ``ServeMux``, JSON responses and CORS.

Connections are handled by :mod:`._serving` (an event loop handing complete requests to worker threads);
this module parses each request and writes its answer, with HTTP/1.1 keep-alive and ``sendfile`` for file
bodies. Nothing here knows about actions:
``/new`` goes to :meth:`Service.submit`, ``/list`` to :mod:`.listing` and ``/fetch`` to :mod:`.static`.

The reference registers six patterns on Go's router; the observable consequences reproduced here are:
paths are cleaned first (``/a/../b`` and ``//x`` answer 301, with Go's double escaping of the location),
segments are compared after percent-decoding (``/%69nfo`` is ``/info``), a GET for a sub-tree root
without its slash (``/fetch``, ``/{prefix}``) redirects to the slash, any GET under the prefix that nothing
else claims gets the banner, and a method no pattern accepts gets 405 with the methods that would have
matched the path (or the path plus a slash) in ``Allow``.
"""

from __future__ import annotations

import email.parser
import email.utils
import http.client
import logging
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote_to_bytes

from . import paths, static
from ._serving import ACTION_WORKERS, Connection, EventLoopServer, HeaderTooLarge
from .errors import RequestError
from .gojson import dumps_compact
from .listing import list_registry
from .service import Service

__all__ = ["BANNER", "GobblerHTTPServer"]

log = logging.getLogger("gobbler_sdk.server.http")

BANNER = {"name": "gobbler API", "url": "https://github.com/ArtifactDB/gobbler"}

_CORS = {"Access-Control-Allow-Origin": "*"}
_JSON_HEADERS = {**_CORS, "Content-Type": "application/json"}
_BANNER_BODY = dumps_compact(BANNER)
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


def _read_headers(connection: Connection) -> dict[str, str]:
    """The request's headers, lower-case names to their first value, as ``http.client`` would read them.

    A block of plain ``name: value`` lines is read directly; anything else (continuations, stray CRs, other
    bytes) goes through the email parser behind ``http.client.parse_headers``, which costs about 40 µs, a
    quarter of what a small file costs.

    Raises:
        http.client.HTTPException: For a line longer than 65,536 bytes, more than 100 lines, or a block
            that does not end within the bytes the loop buffers.
    """
    lines: list[bytes] = []
    while True:
        try:
            line = connection.readline(_MAX_HEADER_LINE + 1)
        except HeaderTooLarge:
            raise http.client.HTTPException("header block too large") from None
        if len(line) > _MAX_HEADER_LINE:
            raise http.client.LineTooLong("header line")
        if not line:
            raise http.client.HTTPException("header block too large")  # all of the buffer was read
        lines.append(line)
        if len(lines) > _MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")
        if line in (b"\r\n", b"\n"):
            break
    headers: dict[str, str] = {}
    for line in lines[:-1]:
        plain = _PLAIN_HEADER.fullmatch(line)
        if plain is None:
            text = b"".join(lines).decode("iso-8859-1")
            parsed = email.parser.Parser(_class=http.client.HTTPMessage).parsestr(text)
            headers = {}
            for key, value in parsed.items():
                headers.setdefault(key.lower(), value)
            return headers
        headers.setdefault(plain[1].decode("ascii").lower(), plain[2].decode("ascii"))
    return headers


class _Clock:
    """``Date`` header values, formatted once per second (``email.utils.formatdate`` costs ~6 µs)."""

    def __init__(self) -> None:
        self._cached: tuple[int, str] = (0, "")

    def now(self) -> str:
        second = int(time.time())
        cached = self._cached
        if cached[0] != second:
            cached = (second, email.utils.formatdate(second, usegmt=True))
            self._cached = cached
        return cached[1]


_CLOCK = _Clock()


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


class _Exchange:
    """One request and its answer on a connection, parsed and answered like Go's server does.

    The request line and header checks are those of ``BaseHTTPRequestHandler.parse_request``, in the same
    order, which the conformance tests pin; only the transport differs (see :mod:`._serving`).
    """

    def __init__(self, server: GobblerHTTPServer, connection: Connection) -> None:
        self.server = server
        self.connection = connection
        self.command = ""
        self.request_version = "HTTP/0.9"
        self.requestline = ""
        self.headers: dict[str, str] = {}
        self.close_connection = True
        self._head: list[bytes] = []

    # ------------------------------------------------------------------ plumbing

    def _log(self, code: int) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug('"%s" %s', self.requestline, code)

    def handle(self) -> None:
        """Read one request and route it whatever its method (Go's router, not ``do_<METHOD>``)."""
        try:
            raw_requestline = self.connection.readline(65537)
        except HeaderTooLarge:
            raw_requestline = b""
        if len(raw_requestline) > 65536:
            self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
        elif raw_requestline and self._parse_request(raw_requestline):
            self._dispatch()
        self.connection.close_after = self.close_connection

    def _parse_request(self, raw_requestline: bytes) -> bool:
        """Parse the request line and headers; ``False`` when the request ends here (answered or not)."""
        version = self.request_version
        requestline = str(raw_requestline, "iso-8859-1").rstrip("\r\n")
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
            if number >= (1, 1):
                self.close_connection = False
            if number >= (2, 0):
                self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED)
                return False
            self.request_version = version
        if not 2 <= len(words) <= 3:
            self.send_error(HTTPStatus.BAD_REQUEST)
            return False
        if len(words) == 2:
            self.close_connection = True
            if words[0] != "GET":
                self.send_error(HTTPStatus.BAD_REQUEST)
                return False
        self.command = words[0]
        try:
            self.headers = _read_headers(self.connection)
        except http.client.HTTPException:  # LineTooLong included
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            return False
        connection = self.headers.get("connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        expect = self.headers.get("expect", "").lower()
        if expect == "100-continue" and version >= "HTTP/1.1":
            self.connection.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def send_error(self, code: int) -> None:
        """Answer a malformed request the way Go's server does: raw text, then close the connection."""
        self._raw_error(f"{int(code)} {HTTPStatus(code).phrase}")

    def _raw_error(self, text: str) -> None:
        self.close_connection = True
        payload = (
            f"HTTP/1.1 {text}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n{text}"
        )
        self.connection.write(payload.encode("latin-1", errors="replace"))

    def _header(self, key: str, value: str) -> None:
        self._head.append(f"{key}: {value}\r\n".encode("latin-1"))
        if key.lower() == "connection":  # as BaseHTTPRequestHandler.send_header does
            if value.lower() == "close":
                self.close_connection = True
            elif value.lower() == "keep-alive":
                self.close_connection = False

    def _start(self, status: int, headers: dict[str, str], length: int | None, body: bytes = b"") -> None:
        """Send the status line and headers, and ``body`` with them in one write.

        The status line is in the request's HTTP version (HTTP/1.0 clients get HTTP/1.0 back, as from
        Go); there is a ``Date`` and no ``Server`` header, which Go does not send.
        """
        self._log(status)
        version = "HTTP/1.0" if self.request_version == "HTTP/1.0" else "HTTP/1.1"
        self._head = [f"{version} {status} {_phrase(status)}\r\nDate: {_CLOCK.now()}\r\n".encode("latin-1")]
        for key, value in headers.items():
            self._header(key, value)
        if length is not None:
            self._head.append(b"Content-Length: %d\r\n" % length)
        if self.close_connection and self.request_version != "HTTP/1.0":
            self._header("Connection", "close")
        elif not self.close_connection and self.request_version == "HTTP/1.0":
            self._header("Connection", "keep-alive")
        self._head.append(b"\r\n")
        self._head.append(body)
        self.connection.write(b"".join(self._head))

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
        encoding = self.headers.get("transfer-encoding", "").lower()
        if encoding:
            if encoding != "chunked":
                self._raw_error("501 Not Implemented")
                return False
            return self._drain_chunked()
        declared = self.headers.get("content-length")
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
            chunk = self.connection.read(min(remaining, 1 << 16))
            if not chunk:
                break
            remaining -= len(chunk)
        return True

    def _drain_chunked(self) -> bool:
        total = 0
        while True:
            line = self.connection.readline(65537, header=False)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                self._raw_error("400 Bad Request")
                return False
            if size == 0:
                while self.connection.readline(65537, header=False) not in (b"\r\n", b"\n", b""):
                    pass
                return True
            total += size
            if total > _MAX_DRAIN:
                self.close_connection = True
                return True
            remaining = size + 2
            while remaining > 0:
                chunk = self.connection.read(remaining)
                if not chunk:
                    break
                remaining -= len(chunk)

    # ------------------------------------------------------------------ routing

    def _dispatch(self) -> None:
        if self.request_version != "HTTP/1.0" and "host" not in self.headers:
            self._raw_error("400 Bad Request: missing required Host header")
            return
        if not self._drain_body():
            return
        # Go sees the target as sent.
        raw_target = self.requestline.split()[1]
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
            self._send(HTTPStatus.OK, self.server.info_body, _JSON_HEADERS)
        elif route.name == "fetch":
            self._fetch(target)
        else:
            self._send(HTTPStatus.OK, _BANNER_BODY, _JSON_HEADERS)

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
        strip = self.server.fetch_prefix
        if not target.path.startswith(strip) or (target.raw_path and not target.raw_path.startswith(strip)):
            self._text_error(HTTPStatus.NOT_FOUND, "404 page not found", dict(_CORS))
            return
        url_path = os.fsdecode(target.path[len(strip) :])
        reply = static.serve(
            self.server.service.config.registry, url_path, target.query, self.command, self.headers
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
                    self.connection.write(segment)
                elif segment[1] > 0 and reply.fd is not None:
                    self.connection.send_file(reply.fd, *segment)
        finally:
            if reply.fd is not None:
                os.close(reply.fd)


class GobblerHTTPServer(EventLoopServer):
    """The HTTP service of one :class:`Service` on an event loop with worker threads (:mod:`._serving`).

    With :meth:`start_readers`, processes of their own serve every request but ``POST`` (the actions,
    which need this process's locks and replay table): reads then never wait for this process's
    interpreter lock while uploads are processed.

    Args:
        address: ``(host, port)`` to bind; port 0 picks a free port.
        service: The service answering requests.
        listening: An already listening socket to serve instead of binding ``address`` (a reader process).
        action_workers: Threads running actions (``POST``); a reader process, which passes them on, has none.

    Raises:
        OSError: When the address cannot be bound.
        OverflowError: When the port is outside 0-65535.
    """

    def __init__(
        self,
        address: tuple[str, int],
        service: Service,
        *,
        listening: socket.socket | None = None,
        action_workers: int = ACTION_WORKERS,
    ) -> None:
        self.service = service
        self.routes = _routes(service.config.prefix)
        self.longest_literal = max(len(route.literal) for route in self.routes)
        prefix = service.config.prefix
        self.fetch_prefix = os.fsencode((f"/{prefix}" if prefix else "") + "/fetch")
        # The same every time: encoded once.
        self.info_body = dumps_compact(
            {"registry": service.config.registry, "staging": service.config.staging}
        )
        self._readers: list[subprocess.Popen[bytes]] = []
        super().__init__(address, self._handle, listening=listening, action_workers=action_workers)

    def _handle(self, connection: Connection) -> None:
        _Exchange(self, connection).handle()

    def start_readers(self, count: int) -> None:
        """Start ``count`` processes that accept connections and serve everything but ``POST``.

        Each gets the listening socket and one end of a Unix socket pair; connections cross the pair, in
        either direction, when a request is for the other kind of process. Until a reader announces itself
        this process serves everything, so the service answers from the start.
        """
        config = self.service.config
        for _ in range(count):
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            command = [
                sys.executable,
                "-m",
                "gobbler_sdk.server._reader",
                str(self.socket.fileno()),
                str(theirs.fileno()),
                config.registry,
                config.staging,
                config.prefix,
            ]
            with theirs:
                self._readers.append(
                    subprocess.Popen(
                        command, pass_fds=(self.socket.fileno(), theirs.fileno()), stdin=subprocess.DEVNULL
                    )
                )
            self.add_peer(mine, takes_posts=False, ready=False)

    def server_close(self) -> None:
        """Close every socket; the reader processes see their end of the pair close and exit."""
        super().server_close()
        for reader in self._readers:
            try:
                reader.wait(5)
            except subprocess.TimeoutExpired:
                reader.kill()
                reader.wait()
        self._readers.clear()
