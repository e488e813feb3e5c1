"""Fast reads: keep-alive standard-library connections, one per thread, hashing while receiving.

Downloading a version means one request per file, and browsing a registry means many small ones, so the
client's own cost per request decides how fast both go. Measured on loopback against the embedded service,
a small GET through ``httpx.Client`` costs about 0.45 ms, of which about 0.25 ms is httpx's own Python
work (URL and header models, the h11 state machine, hooks); through ``http.client`` it costs about 0.2 ms.
Under the GIL that difference is the whole budget, so the idempotent GETs of reading (``/list`` and
``/fetch``) travel on plain ``http.client`` connections, kept alive and reused per thread, while
submissions and ``/info`` go through the client's ``httpx.Client``. Large bodies are read in 1 MiB pieces
and hashed on a second thread while the next piece arrives (hashlib releases the GIL on large buffers), so
verification costs almost no extra time. Answer heads that arrive whole and plain (nearly all) are read
without ``http.client``'s email-based parser, and a directory download's window sends each GET as one
write and reads each connection's answers from one kept stream (see :class:`_Stream`).

Only direct connections are handled here: when a proxy is configured for the service's host, the
transport falls back to httpx, which knows how to use it.

Every answer is read under an overall deadline and small answers under a size cap (see
:mod:`gobbler_sdk._limits`): the connections' sockets are wrapped so that each receive waits at most what
the deadline leaves.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import queue
import re
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ._cache import CHUNK, PartialFile
from ._limits import (
    DEFAULT_MAX_RESPONSE_SIZE,
    KeptReader,
    ReadLimits,
    deadline_scope,
    kept_reader,
    too_large,
    wrap_socket,
)
from ._log import logger
from ._ranges import Slice, check_bounds, plan_body, range_header, read_exactly
from .errors import IntegrityError

__all__ = [
    "Answer",
    "Fetcher",
    "direct_connection_possible",
    "read_capped",
    "receive",
    "resumed_answer",
    "write_hashed",
]

# Bodies at least this large are hashed on a second thread while they are received.
_PIPELINE_THRESHOLD = 4 * CHUNK
_QUEUE_DEPTH = 8
# Most of an error document read from a ranged request's answer.
_ERROR_BODY_LIMIT = 64 * 1024
#: An adaptive window keeps doubling while each doubling raises throughput by at least this factor: on
#: loopback noise alone rarely gives 1.5x, across a network a doubling gives nearly 2x.
_GROWTH_GAIN = 1.5


def direct_connection_possible(base_url: str) -> bool:
    """Whether ``base_url`` is plain HTTP(S) reached without a proxy (so :class:`Fetcher` can serve it)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    proxies = urllib.request.getproxies()
    if parts.scheme not in proxies and "all" not in proxies:
        return True
    return bool(urllib.request.proxy_bypass(parts.hostname))


@dataclass(frozen=True)
class Answer:
    """A complete small answer.

    Attributes:
        status: HTTP status code.
        content_type: The ``Content-Type`` header, if any.
        body: The whole body.
    """

    status: int
    content_type: str | None
    body: bytes


# The standard library's limits on an answer's header block.
_MAX_LINE = 65536
_MAX_HEADERS = 100
# A header line the email parser would read as exactly ``name: value`` (a name of the characters it
# accepts, a value of printable ASCII), without its line ending; anything else goes to the email parser.
_PLAIN_FIELD = re.compile(rb"([!-9;-~]+):[ \t]*([\t -~]*)")


# A whole answer head in the plain form nearly every server sends: an HTTP/1.x status line with a final
# status, then ``name: value`` lines as :data:`_PLAIN_FIELD` describes, each ended by CRLF. Read as text.
_PLAIN_HEAD = re.compile(
    r"(HTTP/1\.[01]) ([2-9][0-9][0-9])(?: ([^\r\n]*))?\r\n((?:[!-9;-~]+:[ \t]*[\t -~]*\r\n)*)\r\n"
)
_FIELD = re.compile(r"([!-9;-~]+):[ \t]*([\t -~]*)\r\n")


def _read_header_block(fp: io.BufferedReader) -> bytes:
    """The header block up to the empty line (excluded), under the standard library's limits.

    A block already buffered whole (the usual case: the answer arrived in one piece) is cut out of the
    buffer in one go; otherwise it is read line by line.
    """
    buffered = fp.peek(_MAX_LINE)
    end = buffered.find(b"\r\n\r\n")
    if end >= 0 and buffered.count(b"\n", 0, end) == buffered.count(b"\r\n", 0, end):
        if buffered.count(b"\n", 0, end) >= _MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")
        return fp.read(end + 4)[: end + 2] if end else fp.read(2)[:0]
    lines: list[bytes] = []
    while True:
        line = fp.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            return b"".join(lines)
        lines.append(line)
        if len(lines) > _MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {_MAX_HEADERS} headers")


class _Headers(http.client.HTTPMessage):
    """An answer's headers as ``http.client`` gives them, with lookups by name through a dictionary.

    The message's own ``get`` scans every header and lower-cases each name, several times an answer; the
    headers of an answer are never changed, so the first value of each name is indexed once.
    """

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        super().__init__()
        self._headers = headers
        self._first: dict[str, str] = {}
        for name, value in reversed(headers):
            self._first[name.lower()] = value

    def get(self, name: str, failobj: Any = None) -> Any:
        return self._first.get(name.lower(), failobj)


def _parse_header_block(block: bytes) -> http.client.HTTPMessage:
    """The headers as ``http.client.parse_headers`` would give them, without its email parser when plain.

    The email parser costs about 25 µs an answer, a good part of what a small file costs the client; a
    block of plain ``name: value`` lines ended by CRLF is read directly.
    """
    headers = []
    if block.count(b"\n") == block.count(b"\r\n"):
        for line in block.split(b"\r\n")[:-1]:
            plain = _PLAIN_FIELD.fullmatch(line)
            if plain is None:
                break
            headers.append((plain[1].decode("ascii"), plain[2].decode("ascii")))
        else:
            return _Headers(headers)
    return http.client.parse_headers(io.BytesIO(block + b"\r\n"))


class _Response(http.client.HTTPResponse):
    """An answer whose header block is read without the email parser when it is plain (the usual case).

    Everything else (status line, framing, keep-alive) keeps the standard library's rules: they are
    decided from the same headers as :meth:`http.client.HTTPResponse.begin` decides them.
    """

    def _plain_head(self) -> tuple[str, int, str, list[tuple[str, str]]] | None:
        """Status line and headers when they arrived whole and plain (then consumed), else ``None``."""
        buffered = self.fp.peek(_MAX_LINE)
        end = buffered.find(b"\r\n\r\n")
        if end < 0:
            return None
        match = _PLAIN_HEAD.fullmatch(buffered[: end + 4].decode("latin-1"))
        if match is None:
            return None
        fields: list[tuple[str, str]] = _FIELD.findall(match[4])
        if len(fields) > _MAX_HEADERS:
            return None  # refused by the general path
        self.fp.read(end + 4)
        return match[1], int(match[2]), match[3] or "", fields

    def begin(self) -> None:
        if self.headers is not None:
            return  # already begun
        head = self._plain_head()
        if head is not None:
            version, status, reason, fields = head
            headers: http.client.HTTPMessage = _Headers(fields)
        else:
            while True:
                version, status, reason = self._read_status()
                if status != http.client.CONTINUE:
                    break
                _read_header_block(self.fp)  # an interim answer's headers mean nothing here
            headers = _parse_header_block(_read_header_block(self.fp))
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = headers
        encoding = self.headers.get("transfer-encoding")
        self.chunked = bool(encoding) and encoding.lower() == "chunked"
        self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        declared = self.headers.get("content-length")
        if declared and not self.chunked:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            self.length = length if length >= 0 else None
        if status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED) or 100 <= status < 200:
            self.length = 0
        if self._method == "HEAD":
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True


class _Connection(http.client.HTTPConnection):
    """A connection whose answers are read under the thread's deadline (and parsed the lean way)."""

    response_class = _Response

    def connect(self) -> None:
        super().connect()
        self.sock = wrap_socket(self.sock)


class _SecureConnection(http.client.HTTPSConnection):
    """An HTTPS connection whose answers are read under the thread's deadline (and parsed the lean way)."""

    response_class = _Response

    def connect(self) -> None:
        super().connect()
        self.sock = wrap_socket(self.sock)


# Characters http.client refuses in a request target (controls, space, DEL).
_BAD_TARGET = re.compile(r"[\x00-\x20\x7f]")


def _host_header(host: str, port: int | None, default_port: int) -> bytes:
    """The ``Host`` header line ``http.client`` sends for a connection to ``host:port``."""
    try:
        name = host.encode("ascii")
    except UnicodeEncodeError:
        name = host.encode("idna")
    if ":" in host:
        name = b"[" + name + b"]"  # an IPv6 address
    if port is not None and port != default_port:
        name += b":%d" % port
    return b"Host: " + name + b"\r\n"


class _Stream:
    """One connection of a download window: each GET written whole, each answer read from one kept stream.

    ``HTTPConnection.request`` builds a request line by line and ``getresponse`` a new buffered stream per
    answer, about 20 µs per small file; here the request is one ``sendall`` of the same bytes
    ``http.client`` sends (request line, ``Host``, ``Accept-Encoding: identity``) and each answer an
    :class:`http.client.HTTPResponse` over the connection's one stream. The connection itself (socket, TLS,
    deadlines) is the standard library's, opened on the first request.

    Args:
        connection: Not yet connected.
    """

    __slots__ = ("_connection", "_head", "_reader", "_send")

    def __init__(self, connection: http.client.HTTPConnection) -> None:
        self._connection = connection
        self._head = (
            _host_header(connection.host, connection.port, connection.default_port)
            + b"Accept-Encoding: identity\r\n\r\n"
        )
        self._reader: KeptReader | None = None
        self._send: Callable[[bytes], None] | None = None

    def send(self, target: str) -> None:
        """Send ``GET target`` (a path with its query, already percent-encoded)."""
        if _BAD_TARGET.search(target):
            raise http.client.InvalidURL(f"URL can't contain control characters. {target!r}")
        if self._send is None:
            self._connection.connect()
            sock = self._connection.sock
            self._reader = kept_reader(sock)
            self._send = sock.sendall
        self._send(b"GET " + target.encode("ascii") + b" HTTP/1.1\r\n" + self._head)

    def makefile(self, mode: str) -> KeptReader:
        """The connection's stream, for :class:`http.client.HTTPResponse` (which asks its "socket" for it)."""
        assert self._reader is not None and mode == "rb"
        return self._reader

    def receive(self) -> http.client.HTTPResponse:
        """The answer to the request sent last, its headers read."""
        response = _Response(self, method="GET")  # type: ignore[arg-type]  # needs only makefile()
        response.begin()
        return response

    def close(self) -> None:
        """Close the connection."""
        if self._reader is not None:
            self._reader.release()
            self._reader = None
        self._connection.close()


class Fetcher:
    """GETs below one base URL over per-thread keep-alive connections.

    Args:
        base_url: The service's URL (``http://host:port[/prefix]``).
        timeout: Seconds allowed for connecting and for each read from the socket.
        limits: Deadlines and the size cap of answers; derived from ``timeout`` when ``None``.
    """

    def __init__(self, base_url: str, *, timeout: float, limits: ReadLimits | None = None) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._timeout = timeout
        self.limits = limits or ReadLimits(timeout)
        self._local = threading.local()
        self._open: set[http.client.HTTPConnection] = set()
        self._lock = threading.Lock()

    def _new_connection(self) -> http.client.HTTPConnection:
        kind = _SecureConnection if self._https else _Connection
        return kind(self._host, self._port, timeout=self._timeout)

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._new_connection()
            self._local.connection = connection
            with self._lock:
                self._open.add(connection)
        return connection

    def _drop(self) -> None:
        """Forget this thread's connection after a failure, so the next attempt starts afresh."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
            with self._lock:
                self._open.discard(connection)

    def _request(self, url_path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        connection = self._connection()
        try:
            connection.request("GET", self._prefix + url_path, headers=headers or {})
            return connection.getresponse()
        except BaseException:
            self._drop()
            raise

    # The pieces a ranged download (:mod:`gobbler_sdk._ranged`) drives its connections with.

    def new_connection(self) -> http.client.HTTPConnection:
        """A connection of the caller's own (not this thread's keep-alive one; the caller closes it)."""
        return self._new_connection()

    def connection(self) -> http.client.HTTPConnection:
        """This thread's keep-alive connection (opened when there is none)."""
        return self._connection()

    def send(
        self, connection: http.client.HTTPConnection, url_path: str, headers: dict[str, str]
    ) -> http.client.HTTPResponse:
        """GET ``url_path`` on ``connection``; the answer's headers are read, its body is the caller's."""
        connection.request("GET", self._prefix + url_path, headers=headers)
        return connection.getresponse()

    def request(self, url_path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
        """GET ``url_path`` on this thread's keep-alive connection (dropped when the exchange fails)."""
        return self._request(url_path, headers)

    def last_round_trip(self) -> float | None:
        """Seconds the last small answer on this thread took (``None`` before the first one)."""
        round_trip: float | None = getattr(self._local, "round_trip", None)
        return round_trip

    def drop(self) -> None:
        """Forget this thread's keep-alive connection (after an answer whose body was left unread)."""
        self._drop()

    def get(self, url_path: str) -> Answer:
        """GET a small resource and return the whole answer.

        Raises:
            ConnectionError, TimeoutError, http.client.HTTPException: When the exchange fails or outlasts
                its deadline (the caller retries; the broken connection is dropped first).
            ResponseTooLargeError: When the body exceeds the size cap.
        """
        with deadline_scope(self.limits.deadline()):
            asked = time.monotonic()
            response = self._request(url_path)
            # How long a small answer takes here tells a large download whether to open more connections.
            self._local.round_trip = time.monotonic() - asked
            try:
                body = read_capped(response, self.limits.max_response_size, url_path)
            except BaseException:
                self._drop()
                raise
        return Answer(response.status, response.getheader("Content-Type"), body)

    def download(
        self, url_path: str, target: PartialFile, *, verify: bool = True, offset: int = 0
    ) -> Answer | str:
        """Stream a file into ``target``, computing its MD5 as it arrives.

        Args:
            url_path: Path below the base URL.
            target: Where the bytes go.
            verify: Compute the MD5 (otherwise ``""`` is returned for a 200).
            offset: Bytes ``target`` already holds (a resumed download, whose running MD5 over them is
                continued): only the rest is asked for (see :func:`resumed_answer`).

        Returns:
            The hex MD5 of the body when the answer is 200, else the complete error :class:`Answer`
            (nothing is written to ``target`` then).

        Raises:
            ConnectionError, TimeoutError, http.client.HTTPException: When the transfer breaks.
        """
        with deadline_scope(self.limits.deadline()):
            headers = {"Range": range_header(offset, None)} if offset else None
            response = self._request(url_path, headers)
            try:
                if offset and resumed_answer(
                    response.status, response.getheader("Content-Range"), response.length, target, url_path
                ):
                    return write_hashed(response, target, target.detach_digest() or hashlib.md5())
                # A resumable file (started over, or from its first byte) hands its MD5 over to be
                # computed on the helper thread; a fresh temporary file has none.
                digest = target.detach_digest() if verify else None
                return receive(
                    response, target, verify=verify, limit=self.limits.max_response_size, digest=digest
                )
            except BaseException:
                self._drop()
                raise

    def read_range(
        self,
        url_path: str,
        start: int,
        end: int | None,
        what: str,
        *,
        md5: bool = False,
        size: int | None = None,
    ) -> Answer | Slice:
        """GET bytes ``start`` to ``end`` (exclusive; ``None``: the end) of a file with a ``Range`` header.

        Args:
            url_path: Path below the base URL.
            start: First byte.
            end: End of the range (exclusive), ``None`` for the end of the file.
            what: Description for error messages.
            md5: Hash the bytes when they turn out to be the whole file.
            size: The file's size in its manifest entry, which bounds the read (else the size cap does).

        Returns:
            The bytes with the whole file's size (and their MD5 when ``md5`` is set and they are the whole
            file), or the complete :class:`Answer` of an error status.

        Raises:
            RangeError: When the answer holds other bytes than asked (see :mod:`gobbler_sdk._ranges`).
            IntegrityError, ResponseTooLargeError: When the headers announce more than the bound allows
                (see :func:`~gobbler_sdk._ranges.check_bounds`); nothing of the body is read.
            ConnectionError, TimeoutError, http.client.HTTPException: When the transfer breaks.
        """
        response = self._request(url_path, {"Range": range_header(start, end)})
        try:
            plan = plan_body(
                response.status, response.getheader("Content-Range"), response.length, start, end, what
            )
            if plan is None:
                # An error document: read a bounded amount (the connection is dropped below if more is left).
                return self._bounded_answer(response)
            check_bounds(plan, size, self.limits.max_response_size, what)
            if plan.drain:
                response.read(_ERROR_BODY_LIMIT)
                self._drop_unless_done(response)
                return Slice(b"", plan.total)
            whole = md5 and start == 0 and plan.count == plan.total
            data, digest = read_exactly(response.read, plan.count, what, md5=whole)
        except BaseException:
            self._drop()
            raise
        self._drop_unless_done(response)
        return Slice(data, plan.total, digest)

    def _bounded_answer(self, response: http.client.HTTPResponse) -> Answer:
        answer = Answer(response.status, response.getheader("Content-Type"), response.read(_ERROR_BODY_LIMIT))
        self._drop_unless_done(response)
        return answer

    def _drop_unless_done(self, response: http.client.HTTPResponse) -> None:
        """Drop this thread's connection when part of the answer's body was left unread."""
        if not response.isclosed():
            self._drop()

    def exchange_many(
        self,
        url_paths: Sequence[str],
        handle: Callable[[int, http.client.HTTPResponse], None],
        *,
        window: int,
        grow_to: int | None = None,
    ) -> dict[int, BaseException]:
        """Run many GETs from the calling thread with up to ``window`` of them in flight at once.

        Each request in flight has a connection of its own (opened for this call and closed at its end);
        the answers are taken in the order the requests were sent. One thread keeping several requests
        in flight overlaps the service's work with the client's, without the GIL contention that as many
        threads would bring (on 2 cores, 8 download threads were slower than 1).

        Args:
            url_paths: Paths below the base URL.
            handle: Called as ``handle(index, response)``; must read the whole body.
            window: Requests in flight at most (at first, when ``grow_to`` is given).
            grow_to: Let the window grow up to this many requests while that pays: after each ``window``
                answers, the window doubles if the answers arrived at least 50% faster than before the
                last doubling, and returns to its previous size (and stays there) if they did not. On
                loopback the service is the bottleneck and the window stays small; across a network
                whose round trip is long against the service's work, it grows until the link is full.

        Returns:
            The exception raised for each request that failed (transfer errors and ``handle``'s own).
        """
        pending: deque[int] = deque(range(len(url_paths)))
        in_flight: deque[tuple[int, _Stream]] = deque()
        idle: list[_Stream] = []
        failures: dict[int, BaseException] = {}
        current = max(window, 1)
        limit = max(grow_to or current, current)
        epoch_start, epoch_done, last_rate = time.monotonic(), 0, 0.0
        try:
            while pending or in_flight:
                while pending and len(in_flight) < current:
                    index = pending.popleft()
                    connection = idle.pop() if idle else _Stream(self._new_connection())
                    try:
                        connection.send(self._prefix + url_paths[index])
                    except Exception as exc:
                        connection.close()
                        failures[index] = exc
                        continue
                    in_flight.append((index, connection))
                if not in_flight:
                    continue
                index, connection = in_flight.popleft()
                try:
                    # Each answer's deadline starts when it is waited for, not when it was sent.
                    with deadline_scope(self.limits.deadline()):
                        response = connection.receive()
                        handle(index, response)
                except Exception as exc:
                    connection.close()
                    failures[index] = exc
                    continue
                if response.will_close or not response.isclosed():
                    connection.close()  # closing, or part of the body unread: not reusable
                else:
                    idle.append(connection)
                epoch_done += 1
                if current < limit and epoch_done >= current:
                    now = time.monotonic()
                    rate = epoch_done / max(now - epoch_start, 1e-9)
                    if rate >= last_rate * _GROWTH_GAIN:
                        current, last_rate = min(current * 2, limit), rate
                    else:
                        current = limit = max(current // 2, 1)
                    epoch_start, epoch_done = now, 0
        finally:
            for _, connection in in_flight:
                connection.close()
            for connection in idle:
                connection.close()
        if grow_to:
            logger.debug(
                "%d requests, window %d (from %d, up to %d)", len(url_paths), current, window, grow_to
            )
        return failures

    def close(self) -> None:
        """Close every connection opened by any thread."""
        with self._lock:
            connections, self._open = self._open, set()
        for connection in connections:
            connection.close()


def read_capped(response: http.client.HTTPResponse, limit: int, what: str) -> bytes:
    """The whole body, refused once it exceeds ``limit`` bytes (before reading more than one piece past it).

    Raises:
        ResponseTooLargeError: When the announced or received length exceeds ``limit``.
    """
    if response.length is not None and response.length > limit:
        raise too_large(what, limit)
    if response.length is not None and not response.chunked:
        # Announced and within the cap: read in one piece (pieces and their join would hold it twice).
        return response.read()
    pieces: list[bytes] = []
    total = 0
    while piece := response.read(min(CHUNK, limit + 1 - total)):
        pieces.append(piece)
        total += len(piece)
        if total > limit:
            raise too_large(what, limit)
    if response.length:
        raise http.client.IncompleteRead(b"".join(pieces), response.length)
    return b"".join(pieces)


def receive(
    response: http.client.HTTPResponse,
    target: PartialFile,
    *,
    verify: bool,
    limit: int = DEFAULT_MAX_RESPONSE_SIZE,
    digest: hashlib._Hash | None = None,
) -> Answer | str:
    """Stream a response's body into ``target``, computing its MD5 as it arrives.

    Args:
        response: The answer, headers read.
        target: Where a 200's body goes.
        verify: Compute the MD5.
        limit: Largest error body read into memory (the file's own bound is ``target.limit``).
        digest: The MD5 to continue (over bytes ``target`` already holds); a fresh one without it.

    Returns:
        The hex MD5 (``""`` without ``verify``) for a 200, else the complete error :class:`Answer`
        (nothing is written to ``target`` then).

    Raises:
        http.client.HTTPException, ConnectionError, TimeoutError: When the transfer breaks.
        ResponseTooLargeError: When an error body exceeds ``limit``.
        IntegrityError: When the body is announced or turns out longer than ``target.limit``.
    """
    if response.status != 200:
        body = read_capped(response, limit, f"HTTP {response.status} answer")
        return Answer(response.status, response.getheader("Content-Type"), body)
    # More than the manifest records is refused before a byte is read, and while receiving by ``write``.
    target.check_announced(response.length)
    if not verify:
        for chunk in _chunks(response):
            target.write(chunk)
        return ""
    return write_hashed(response, target, digest or hashlib.md5())


def write_hashed(response: http.client.HTTPResponse, target: PartialFile, digest: hashlib._Hash) -> str:
    """Write the body into ``target`` while ``digest`` takes it in (on a second thread when large).

    Returns:
        The hex MD5 of everything ``digest`` took in.
    """
    length = response.length
    if length is not None and length >= _PIPELINE_THRESHOLD:
        return _receive_pipelined(response, target, digest)
    for chunk in _chunks(response):
        target.write(chunk)
        digest.update(chunk)
    return digest.hexdigest()


def resumed_answer(
    status: int, content_range: str | None, content_length: int | None, target: PartialFile, what: str
) -> bool:
    """Judge the answer to ``Range: bytes=<target.size>-``: whether its body is the rest of the file.

    A ``206`` must carry exactly the bytes from ``target.size`` to the end of a file of the manifest's
    size (``target.limit``); a ``200`` (a server that ignores ranges) restarts ``target`` from its first
    byte and returns ``False``, as does any other status (an error answer, read as usual).

    Raises:
        RangeError: When a ``206`` carries other bytes than asked.
        IntegrityError: When it describes a file of another size than the manifest's.
    """
    if status == 200:
        target.restart()
    if status != 206:
        return False
    plan = plan_body(status, content_range, content_length, target.size, None, what)
    total = plan.total if plan is not None else None  # a 206 always has a plan (or raised)
    if total != target.limit:
        raise IntegrityError(f"{what}: the service reports {total} bytes, the manifest {target.limit}")
    return True


def _chunks(response: http.client.HTTPResponse) -> Iterator[bytes]:
    """The body in 1 MiB pieces; a connection closed before ``Content-Length`` bytes is an error.

    ``HTTPResponse.read(amt)`` simply returns less when the peer hangs up early, so the remaining length
    is checked here.
    """
    while chunk := response.read(CHUNK):
        yield chunk
    if response.length:
        raise http.client.IncompleteRead(b"", response.length)


def _receive_pipelined(response: http.client.HTTPResponse, target: PartialFile, digest: hashlib._Hash) -> str:
    """Receive and write on this thread while a helper thread hashes the pieces already written.

    The pieces live in a fixed set of 1 MiB buffers passed back and forth (filled here, hashed there, then
    free again): a fresh 1 MiB ``bytes`` per piece cost a new mapping and a page fault per 4 KiB, CPU that
    a loaded machine takes from the transfer and the hash alike. hashlib releases the GIL while hashing a
    large buffer, so the hash runs beside the receiving and writing.
    """
    free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
    for _ in range(_QUEUE_DEPTH):
        free.put(bytearray(CHUNK))
    filled: queue.SimpleQueue[tuple[bytearray, int] | None] = queue.SimpleQueue()

    def hash_pieces() -> None:
        while (piece := filled.get()) is not None:
            buffer, count = piece
            with memoryview(buffer) as view:
                digest.update(view[:count])
            free.put(buffer)

    hasher = threading.Thread(target=hash_pieces, name="gobbler-md5", daemon=True)
    hasher.start()
    try:
        while True:
            buffer = free.get()
            count = _fill(response, buffer)
            if not count:
                break
            with memoryview(buffer) as view:
                target.write(view[:count])
            filled.put((buffer, count))
        if response.length:
            raise http.client.IncompleteRead(b"", response.length)
    finally:
        filled.put(None)
        hasher.join()
    return digest.hexdigest()


def _fill(response: http.client.HTTPResponse, buffer: bytearray) -> int:
    """Read into ``buffer`` until it is full or the body ends; the bytes read."""
    got = 0
    with memoryview(buffer) as view:
        while got < len(buffer):
            count = response.readinto(view[got:])
            if not count:
                break
            got += count
    return got
