"""Bounds on every answer the client waits for: overall deadlines and a cap on what is read into memory.

A socket time-out alone bounds each wait for the next bytes, not the whole exchange: a server that sends
one byte a second keeps a read alive forever. So every read request runs under a :class:`Deadline`: it may
take ``timeout`` seconds plus one second for every ``min_rate`` bytes received, which lets a large file
take as long as it needs at any sane speed and cuts off a server that drips (or stalls mid-body) within
about ``timeout`` seconds. A submission waits for its answer under a deadline of its own
(``submit_timeout``), since the service answers only once the action is done.

The deadline in force is per thread (:func:`deadline_scope`), and is applied at the lowest level of both
HTTP stacks: each receive on a standard-library connection (:func:`wrap_socket`, used by the fast read
path) and on an httpx connection (:func:`install_deadlines` wraps httpcore's network backend) waits at most
the time left, and fails with a time-out once none is left. A read outside any scope keeps the plain
per-read ``timeout``.

Answers read into memory (listings, registry documents, ``/info``, error bodies, submission answers) are
capped at ``max_response_size`` bytes; a longer one raises
:class:`~gobbler_sdk.errors.ResponseTooLargeError` after reading just past the cap.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from ._log import logger
from .errors import ResponseTooLargeError

__all__ = [
    "DEFAULT_MAX_RESPONSE_SIZE",
    "DEFAULT_MIN_READ_RATE",
    "DEFAULT_SUBMIT_TIMEOUT",
    "Deadline",
    "KeptReader",
    "ReadLimits",
    "current_deadline",
    "deadline_scope",
    "install_deadlines",
    "kept_reader",
    "too_large",
    "wrap_socket",
]

#: Default cap on an answer read into memory: far above any real manifest or listing.
DEFAULT_MAX_RESPONSE_SIZE = 256 << 20
#: Default slowest accepted transfer, in bytes per second, once the first ``timeout`` seconds are used up.
DEFAULT_MIN_READ_RATE = 32 << 10
#: Default wait for the answer to a submission (an upload of many gigabytes may take hours).
DEFAULT_SUBMIT_TIMEOUT = 6 * 60 * 60.0

_local = threading.local()


class Deadline:
    """The time allowed for one exchange: ``grace`` seconds plus one second per ``min_rate`` bytes received.

    Args:
        grace: Seconds allowed before counting any bytes (``None``: no deadline at all).
        min_rate: Bytes per second that each earn one more second (``None``: no extension).
        per_read: Longest single wait for bytes (``None``: as long as the deadline allows).
    """

    def __init__(self, grace: float | None, *, min_rate: float | None, per_read: float | None) -> None:
        self.start = time.monotonic()
        self.grace = grace
        self.min_rate = min_rate
        self.per_read = per_read
        self.received = 0

    def wait_limit(self) -> float | None:
        """The longest the next receive may wait.

        Raises:
            TimeoutError: When the deadline has passed.
        """
        if self.grace is None:
            return self.per_read
        allowed = self.grace + (self.received / self.min_rate if self.min_rate else 0.0)
        left = self.start + allowed - time.monotonic()
        if left <= 0:
            raise TimeoutError(
                f"no complete answer within {allowed:.1f} s ({self.received} bytes received): the server is "
                "too slow or stalled"
            )
        return left if self.per_read is None else min(left, self.per_read)

    def add(self, count: int) -> None:
        """Count received bytes."""
        self.received += count


@dataclass(frozen=True)
class ReadLimits:
    """How long reads may take and how much of an answer is read into memory.

    Attributes:
        timeout: Longest single wait for bytes, and the base of each read's deadline (seconds).
        min_read_rate: Bytes per second that each extend a read's deadline by one second.
        max_response_size: Largest answer read into memory, in bytes.
    """

    timeout: float
    min_read_rate: float = DEFAULT_MIN_READ_RATE
    max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE

    def deadline(self) -> Deadline:
        """A fresh deadline for one read request."""
        return Deadline(self.timeout, min_rate=self.min_read_rate, per_read=self.timeout)


def current_deadline() -> Deadline | None:
    """The deadline in force on this thread, if any."""
    deadline: Deadline | None = getattr(_local, "deadline", None)
    return deadline


@contextlib.contextmanager
def deadline_scope(deadline: Deadline) -> Iterator[Deadline]:
    """Run the block's network reads on this thread under ``deadline``."""
    previous = current_deadline()
    _local.deadline = deadline
    try:
        yield deadline
    finally:
        _local.deadline = previous


def too_large(what: str, limit: int) -> ResponseTooLargeError:
    """The error for an answer longer than ``limit`` bytes."""
    return ResponseTooLargeError(
        f"{what}: the answer is larger than {limit} bytes (max_response_size); no real Gobbler answer is "
        "this large, so the server is broken or hostile"
    )


# ---------------------------------------------------------------------- the standard library's connections


class _DeadlineReader(io.RawIOBase):
    """A socket's byte stream whose every receive waits at most what the thread's deadline leaves."""

    def __init__(self, sock: socket.socket, timeout: float | None) -> None:
        self._sock = sock
        self._raw: Any = sock.makefile("rb", buffering=0)
        self._timeout = timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        deadline = current_deadline()
        self._sock.settimeout(self._timeout if deadline is None else deadline.wait_limit())
        count: int | None = self._raw.readinto(buffer)
        if deadline is not None and count:
            deadline.add(count)
        return count

    def close(self) -> None:
        self._raw.close()
        super().close()


class KeptReader(io.BufferedReader):
    """A connection's buffered byte stream that the answers read from it do not close.

    ``http.client`` reads each answer from a stream of its own and closes it at the end of the answer; one
    stream kept for all the answers of a connection saves building three objects per answer. Only
    :meth:`release` closes it.
    """

    def close(self) -> None:
        """Nothing: an answer is done with the stream, the connection is not."""

    def release(self) -> None:
        """Close the stream for good."""
        super().close()


class _DeadlineSocket:
    """A socket whose ``makefile("rb")`` streams (what ``http.client`` reads answers from) keep deadlines."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._timeout = sock.gettimeout()

    def kept_reader(self) -> KeptReader:
        """A buffered reader of the answers that outlives them (see :class:`KeptReader`)."""
        return KeptReader(_DeadlineReader(self._sock, self._timeout))

    def makefile(self, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if mode != "rb":
            plain: Any = self._sock
            return plain.makefile(mode, *args, **kwargs)
        return io.BufferedReader(_DeadlineReader(self._sock, self._timeout))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def kept_reader(sock: socket.socket) -> KeptReader:
    """A kept reader of a socket's answers (under the thread's deadline when ``sock`` was wrapped)."""
    wrapped: object = sock
    if isinstance(wrapped, _DeadlineSocket):
        return wrapped.kept_reader()
    return KeptReader(sock.makefile("rb", buffering=0))


def wrap_socket(sock: socket.socket) -> socket.socket:
    """Wrap a connected socket for ``http.client`` so answers are read under the thread's deadline."""
    return _DeadlineSocket(sock)  # type: ignore[return-value]  # duck-typed: http.client needs only these


# ---------------------------------------------------------------------- httpx's connections


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        deadline = current_deadline()
        if deadline is not None:
            try:
                limit = deadline.wait_limit()
            except TimeoutError as exc:
                raise httpcore.ReadTimeout(str(exc)) from exc
            if limit is not None:
                # A submission's deadline (no per-read bound) replaces httpx's per-read time-out.
                timeout = limit if timeout is None or deadline.per_read is None else min(timeout, limit)
        data = self._stream.read(max_bytes, timeout)
        if deadline is not None:
            deadline.add(len(data))
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, timeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _DeadlineStream(self._stream.start_tls(*args, **kwargs))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _DeadlineStream(self._backend.connect_tcp(*args, **kwargs))

    def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _DeadlineStream(self._backend.connect_unix_socket(*args, **kwargs))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def install_deadlines(client: httpx.Client) -> bool:
    """Make every connection of ``client`` (direct and through proxies) keep the thread's deadline.

    httpx has no public hook below the HTTP layer, so the network backend of each transport's httpcore
    pool is wrapped. Should a future httpx arrange its transports differently, reads fall back to the
    per-read time-out (with a warning) rather than failing; ``tests/client/test_deadlines.py`` notices.

    Returns:
        Whether every transport was wrapped.
    """
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    complete = True
    for transport in transports:
        if transport is None:
            continue
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if not isinstance(backend, httpcore.NetworkBackend):
            complete = False
            continue
        if not isinstance(backend, _DeadlineBackend):
            setattr(pool, "_network_backend", _DeadlineBackend(backend))  # noqa: B010 - a private attribute
    if not complete:
        logger.warning("this httpx version hides its network backend: reads through httpx have no deadline")
    return complete
