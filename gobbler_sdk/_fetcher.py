"""Fast reads: keep-alive standard-library connections, one per thread, hashing while receiving.

Downloading a version means one request per file, and browsing a registry means many small ones, so the
client's own cost per request decides how fast both go. Measured on loopback against the embedded service,
a small GET through ``httpx.Client`` costs about 0.45 ms, of which about 0.25 ms is httpx's own Python
work (URL and header models, the h11 state machine, hooks); through ``http.client`` it costs about 0.2 ms.
Under the GIL that difference is the whole budget, so the idempotent GETs of reading (``/list`` and
``/fetch``) travel on plain ``http.client`` connections, kept alive and reused per thread, while
submissions and ``/info`` go through the client's ``httpx.Client``. Large bodies are read in 1 MiB pieces
and hashed on a second thread while the next piece arrives (hashlib releases the GIL on large buffers), so
verification costs almost no extra time.

Only direct connections are handled here: when a proxy is configured for the service's host, the
transport falls back to httpx, which knows how to use it.

Every answer is read under an overall deadline and small answers under a size cap (see
:mod:`gobbler_sdk._limits`): the connections' sockets are wrapped so that each receive waits at most what
the deadline leaves.
"""

from __future__ import annotations

import hashlib
import http.client
import queue
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from ._cache import CHUNK, PartialFile
from ._limits import DEFAULT_MAX_RESPONSE_SIZE, ReadLimits, deadline_scope, too_large, wrap_socket
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


class _Connection(http.client.HTTPConnection):
    """A connection whose answers are read under the thread's deadline."""

    def connect(self) -> None:
        super().connect()
        self.sock = wrap_socket(self.sock)


class _SecureConnection(http.client.HTTPSConnection):
    """An HTTPS connection whose answers are read under the thread's deadline."""

    def connect(self) -> None:
        super().connect()
        self.sock = wrap_socket(self.sock)


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
        in_flight: deque[tuple[int, http.client.HTTPConnection]] = deque()
        idle: list[http.client.HTTPConnection] = []
        failures: dict[int, BaseException] = {}
        current = max(window, 1)
        limit = max(grow_to or current, current)
        epoch_start, epoch_done, last_rate = time.monotonic(), 0, 0.0
        try:
            while pending or in_flight:
                while pending and len(in_flight) < current:
                    index = pending.popleft()
                    connection = idle.pop() if idle else self._new_connection()
                    try:
                        connection.request("GET", self._prefix + url_paths[index])
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
                        response = connection.getresponse()
                        handle(index, response)
                except Exception as exc:
                    connection.close()
                    failures[index] = exc
                    continue
                if response.will_close:
                    connection.close()
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
    """Receive and write on this thread while a helper thread hashes the pieces already written."""
    pieces: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUE_DEPTH)

    def hash_pieces() -> None:
        while (piece := pieces.get()) is not None:
            digest.update(piece)

    hasher = threading.Thread(target=hash_pieces, name="gobbler-md5", daemon=True)
    hasher.start()
    try:
        for chunk in _chunks(response):
            target.write(chunk)
            pieces.put(chunk)
    finally:
        pieces.put(None)
        hasher.join()
    return digest.hexdigest()
