"""Large files over a long round trip: several ranged GETs at once, written in place, verified as one file.

One TCP connection carries at most its window per round trip, and a new one starts small and doubles its
window every round trip (slow start), so across a long round trip a single stream is a fraction of what the
link gives. A verified download of a large file is therefore cut into blocks that up to
:data:`RANGED_CONNECTIONS` connections fetch at once, each block with ``Range: bytes=first-last``, its
bytes written where they belong in the one partial file (``os.pwrite``). Connections take the blocks in
file order, so the bytes arrive nearly in order and a helper thread hashes the contiguous prefix as it
grows (MD5 is sequential; hashlib releases the GIL): verification overlaps the transfer as it does for one
stream. The manifest's size and MD5 are then checked over the whole file, as for any download.

Every guarantee of a single stream holds: the first block is asked for alone, and a server that answers it
with a ``200`` (no range support) gets the whole file read as one stream; a ``206`` must state the
manifest's size (else :class:`~gobbler_sdk.errors.IntegrityError`) and carry exactly the asked bytes
(else :class:`~gobbler_sdk._ranges.RangeError`); only the asked count of bytes is ever read from a block's
answer, so the file never grows past the manifest's size. An interrupted download keeps only the
contiguous prefix that arrived complete (the partial file is truncated to it), so the next attempt resumes
from there (see :class:`~gobbler_sdk._cache.PartialFile`) and never trusts a byte that was not written.

The constants below were measured (issue 24) through the benchmark's latency proxy, which bounds each
connection's window as TCP does (slow start from 10 segments up to Linux's 4 MiB ``tcp_wmem``), against
the embedded service on 2 shared cores; the figures are in the benchmark's journal
(``tests/benchmarks/JOURNAL.md``, "Large files over a long round trip") and summed up on the performance
page.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import socket
import threading
import time
from dataclasses import dataclass

from ._cache import CHUNK, RESUME_THRESHOLD, PartialFile
from ._fetcher import Answer, Fetcher, receive, write_hashed
from ._http import RetryableStatus, is_retryable_status
from ._limits import deadline_scope
from ._log import logger
from ._ranges import RangeError, plan_body, range_header
from .errors import IntegrityError

__all__ = [
    "RANGED_BLOCK",
    "RANGED_CONNECTIONS",
    "RANGED_MIN_ROUND_TRIP",
    "RANGED_THRESHOLD",
    "download_ranged",
    "wants_ranges",
]

#: Verified downloads with at least this many bytes still to fetch go as parallel ranges. At 20 ms (load
#: average about 7), a 16 MiB file took 0.385 s as ranges against 0.365 s as one stream, 32 MiB 0.464 s
#: against 0.476 s, 64 MiB 0.373 s against 0.56-0.60 s: below about 32 MiB slow start ends before the file.
RANGED_THRESHOLD = 32 << 20
#: Connections a ranged download uses at most. 8 connections of 4 MiB blocks took 0.373 s for 64 MiB at
#: 20 ms (curl -o 0.531 s, aria2c -x 8 -s 8 0.433 s); 12 of 6 MiB 0.385 s, 16 of 4 MiB 0.42 s: more only
#: add CPU on a loaded machine. In the benchmark (workload l, 5 rounds): 0.411 s, 0.76x curl -o.
RANGED_CONNECTIONS = 8
#: Bytes of each ranged GET (the last block of a file is shorter). 4 MiB against 8 MiB: 0.373 s against
#: 0.394 s (smaller blocks arrive closer to file order, so the hashing thread keeps up); 2 MiB pays a round
#: trip per block too often.
RANGED_BLOCK = 4 << 20
#: Seconds the first block's answer must take at least (its round trip) for the other connections to start.
#: On loopback and at 2 ms one stream was as fast as ranges or faster (0.12 s against 0.18 s for 64 MiB on
#: loopback, where the hashing thread reading the file back cost more than the parallel transfer saved).
RANGED_MIN_ROUND_TRIP = 0.005

# Most of an error document read from a block's answer.
_ERROR_BODY_LIMIT = 64 * 1024

# A ranged file is always large enough to keep its partial file between attempts.
assert RANGED_THRESHOLD >= RESUME_THRESHOLD


def wants_ranges(remaining: int) -> bool:
    """Whether a verified download with ``remaining`` bytes still to fetch goes as parallel ranges."""
    return remaining >= RANGED_THRESHOLD and RANGED_CONNECTIONS > 1


@dataclass
class _Block:
    """One ranged GET's bytes ``start`` to ``end`` (exclusive), and how many of them are written."""

    start: int
    end: int
    written: int = 0

    @property
    def complete(self) -> bool:
        return self.start + self.written == self.end


class _Download:
    """The shared state of one ranged download: the blocks, who takes the next, the hashed prefix."""

    def __init__(self, fetcher: Fetcher, url_path: str, target: PartialFile, offset: int, what: str) -> None:
        self.fetcher = fetcher
        self.url_path = url_path
        self.target = target
        self.size = target.limit or 0
        self.what = what
        starts = range(offset, self.size, RANGED_BLOCK)
        self.blocks = [_Block(start, min(start + RANGED_BLOCK, self.size)) for start in starts]
        self.next_block = 0
        self.first_incomplete = 0
        self.failure: BaseException | None = None
        self.stopping = False
        self.changed = threading.Condition()
        #: Set once the first block's answer is judged; ``helping`` then says whether helpers take blocks.
        self.judged = threading.Event()
        self.helping = False
        self.connections: set[http.client.HTTPConnection] = set()

    # ------------------------------------------------------------------ shared bookkeeping

    def take(self) -> _Block | None:
        """The next block nobody fetches yet, or ``None`` when there is none (or the download stops)."""
        with self.changed:
            if self.stopping or self.next_block >= len(self.blocks):
                return None
            block = self.blocks[self.next_block]
            self.next_block += 1
            return block

    def frontier(self) -> int:
        """End of the contiguous prefix written so far (call with ``changed`` held)."""
        while self.first_incomplete < len(self.blocks) and self.blocks[self.first_incomplete].complete:
            self.first_incomplete += 1
        if self.first_incomplete == len(self.blocks):
            return self.size
        block = self.blocks[self.first_incomplete]
        return block.start + block.written

    def fail(self, exc: BaseException) -> None:
        """Record the first failure and stop every connection (a blocked receive wakes up with an error)."""
        with self.changed:
            if self.failure is None:
                self.failure = exc
            self.stopping = True
            connections = list(self.connections)
            self.changed.notify_all()
        for connection in connections:
            sock = connection.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    # ------------------------------------------------------------------ fetching blocks

    def check_answer(self, response: http.client.HTTPResponse, block: _Block) -> None:
        """A block's answer must be a ``206`` with exactly its bytes, of a file of the manifest's size.

        Raises:
            RangeError: When it is another status, or holds other bytes.
            IntegrityError: When it states another size of the file than the manifest's.
        """
        if response.status != 206:
            content_type = response.getheader("Content-Type")
            if is_retryable_status(response.status, content_type):
                # A passing failure (a proxy's 502): the download is tried again from what arrived.
                raise RetryableStatus(response.status, content_type, response.read(_ERROR_BODY_LIMIT))
            raise RangeError(
                f"{self.what}: asked for {range_header(block.start, block.end)}, the service answered "
                f"{response.status} (it answered the first range with 206)"
            )
        plan = plan_body(
            206,
            response.getheader("Content-Range"),
            response.length,
            block.start,
            block.end,
            self.what,
        )
        total = plan.total if plan is not None else None
        if total != self.size:
            raise IntegrityError(f"{self.what}: the service reports {total} bytes, the manifest {self.size}")
        if plan is None or plan.count != block.end - block.start:
            raise RangeError(f"{self.what}: asked for {range_header(block.start, block.end)}, received less")

    def receive_block(
        self,
        response: http.client.HTTPResponse,
        block: _Block,
        buffer: memoryview,
        digest: hashlib._Hash | None = None,
    ) -> None:
        """Write a checked answer's body at its place in the file, exactly the block's bytes.

        Args:
            response: The checked answer (headers read).
            block: Its block.
            buffer: Where each piece is received.
            digest: Hashes the pieces as they arrive (the first block, which starts the hashed prefix).
        """
        position = block.start + block.written
        while position < block.end:
            if self.stopping:
                raise _Stopped
            count = response.readinto(buffer[: min(len(buffer), block.end - position)])
            if not count:
                raise http.client.IncompleteRead(b"", block.end - position)
            self.target.write_at(buffer[:count], position)
            position += count
            if digest is not None:
                digest.update(buffer[:count])
            with self.changed:
                block.written += count
                self.target.count_written(count)
                self.changed.notify_all()

    def fetch_blocks(
        self, connection: http.client.HTTPConnection | None, block: _Block | None, *, own: bool = True
    ) -> None:
        """Fetch ``block``, then take blocks until none is left, on one connection.

        Args:
            connection: The connection to use first (a new one is opened when ``None`` or dropped).
            block: The first block (``None``: take one).
            own: Whether ``connection`` belongs to this download (closed at the end); ``False`` for the
                calling thread's keep-alive connection, which the fetcher keeps (or drops on failure).
        """
        buffer = memoryview(bytearray(CHUNK))
        block = block or self.take()
        try:
            while block is not None:
                if connection is None:
                    own = True
                    connection = self.fetcher.new_connection()
                    with self.changed:
                        self.connections.add(connection)
                    if self.stopping:
                        return
                with deadline_scope(self.fetcher.limits.deadline()):
                    response = self.fetcher.send(
                        connection, self.url_path, {"Range": range_header(block.start, block.end)}
                    )
                    self.check_answer(response, block)
                    self.receive_block(response, block, buffer)
                if not response.isclosed() or response.will_close:
                    # Bytes beyond the block (a lying server) or a closing server: never read them.
                    self.drop(connection, own)
                    connection = None
                block = self.take()
        except BaseException:
            if connection is not None:
                self.drop(connection, own)
                connection = None
            raise
        finally:
            if connection is not None:
                with self.changed:
                    self.connections.discard(connection)
                if own:
                    connection.close()

    def drop(self, connection: http.client.HTTPConnection, own: bool) -> None:
        """Close a connection whose state is unknown (the calling thread's is dropped by the fetcher)."""
        with self.changed:
            self.connections.discard(connection)
        if own:
            connection.close()
        else:
            self.fetcher.drop()

    def worker(self) -> None:
        """A helper thread: connects at once, then (once the first block's answer allows) takes blocks.

        Connecting while the first block is asked for saves the helpers a round trip. A failure stops the
        whole download; the calling thread raises it.
        """
        opened = self.fetcher.new_connection()
        connection: http.client.HTTPConnection | None = opened
        try:
            with self.changed:
                self.connections.add(opened)
            try:
                opened.connect()
            except OSError:
                self.drop(opened, True)
                connection = None  # opened again when needed (and failing then, for real)
            self.judged.wait()
            if self.helping:
                self.fetch_blocks(connection, None)
            elif connection is not None:
                self.drop(connection, True)
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the calling thread, which raises it
            self.fail(exc)

    # ------------------------------------------------------------------ hashing the prefix

    def hash_prefix(self, digest: hashlib._Hash, start: int, fd: int) -> None:
        """Follow the contiguous prefix with ``digest`` (reading back what was written) until the end."""
        hashed = start
        try:
            while hashed < self.size:
                with self.changed:
                    while not self.stopping and self.frontier() <= hashed:
                        self.changed.wait()
                    if self.stopping:
                        return
                    upto = self.frontier()
                while hashed < upto:
                    piece = os.pread(fd, min(CHUNK, upto - hashed), hashed)
                    if not piece:
                        raise OSError(f"{self.what}: the partial file is shorter than what was written")
                    digest.update(piece)
                    hashed += len(piece)
        except BaseException as exc:
            self.fail(exc)


class _Stopped(Exception):
    """A helper noticed that another one failed (the failure itself is raised by the calling thread)."""


def download_ranged(fetcher: Fetcher, url_path: str, target: PartialFile, what: str) -> Answer | str:
    """Fetch the rest of ``target`` (from ``target.size`` to its ``limit``) as parallel ranged GETs.

    The first block is asked for on the calling thread's keep-alive connection while the helpers connect
    (unless the last small answer on this thread came back within :data:`RANGED_MIN_ROUND_TRIP`).
    A ``200`` (a server without range support) is read as one stream into ``target`` from its first byte,
    and any other status than ``206`` is returned as an error :class:`Answer`. When the first answer came
    back within :data:`RANGED_MIN_ROUND_TRIP`, one connection fills the link: the helpers stop, and the
    rest is one more ranged GET on the same connection, received as a single stream is. Otherwise the
    helpers take the other blocks, and a hashing thread follows the contiguous prefix.

    Returns:
        The hex MD5 of the whole file (``target`` then holds ``target.limit`` bytes), or the error answer.

    Raises:
        IntegrityError: When an answer states another size than the manifest's.
        RangeError: When an answer holds other bytes than asked.
        ConnectionError, TimeoutError, http.client.HTTPException: When a transfer breaks; ``target`` is
            then cut to the contiguous prefix that arrived, for the next attempt to resume.
    """
    offset = target.size
    digest = target.detach_digest() or hashlib.md5()
    state = _Download(fetcher, url_path, target, offset, what)
    first = state.take()
    assert first is not None
    helpers: list[threading.Thread] = []

    def start_helpers() -> None:
        for index in range(min(RANGED_CONNECTIONS, len(state.blocks)) - 1):
            helpers.append(threading.Thread(target=state.worker, name=f"gobbler-range-{index}", daemon=True))
            helpers[-1].start()

    # The helpers connect while the first block is asked for, unless the last small answer on this thread
    # (the manifest, usually) already showed a short round trip: then they would only be closed again.
    earlier = fetcher.last_round_trip()
    if earlier is None or earlier >= RANGED_MIN_ROUND_TRIP:
        start_helpers()
    try:
        with deadline_scope(fetcher.limits.deadline()):
            asked = time.monotonic()
            response = fetcher.request(url_path, {"Range": range_header(first.start, first.end)})
            round_trip = time.monotonic() - asked
            try:
                if response.status != 206:
                    if response.status == 200:
                        logger.info("%s: the service ignores ranges; one stream instead", what)
                        if offset:
                            target.restart()
                    return receive(response, target, verify=True, limit=fetcher.limits.max_response_size)
                state.check_answer(response, first)
                logger.debug(
                    "%s: the first block came back in %.1f ms: %s",
                    what,
                    round_trip * 1000,
                    "one stream" if round_trip < RANGED_MIN_ROUND_TRIP else "parallel ranges",
                )
                if round_trip < RANGED_MIN_ROUND_TRIP:
                    return _one_stream(fetcher, state, response, digest)
            except BaseException:
                fetcher.drop()
                raise
        state.helping = True
    finally:
        state.judged.set()
        if not state.helping:
            for helper in helpers:
                helper.join()
    if not helpers:
        start_helpers()  # a long round trip after all: they connect now
    return _in_parallel(fetcher, state, response, digest, helpers)


def _one_stream(
    fetcher: Fetcher, state: _Download, response: http.client.HTTPResponse, digest: hashlib._Hash
) -> str:
    """The rest of a file on one connection: the first block's answer, then one GET for what follows."""
    write_hashed(response, state.target, digest)
    first = state.blocks[0]
    if first.end == state.size:
        return digest.hexdigest()
    rest = _Block(first.end, state.size)
    with deadline_scope(fetcher.limits.deadline()):
        response = fetcher.request(state.url_path, {"Range": range_header(rest.start, None)})
        state.check_answer(response, rest)
        return write_hashed(response, state.target, digest)


def _in_parallel(
    fetcher: Fetcher,
    state: _Download,
    response: http.client.HTTPResponse,
    digest: hashlib._Hash,
    helpers: list[threading.Thread],
) -> str:
    """The first block on the calling thread (hashed as it arrives), the others on the helpers."""
    first = state.blocks[0]
    hasher = threading.Thread(
        target=state.hash_prefix,
        args=(digest, first.end, state.target.fileno()),
        name="gobbler-md5",
        daemon=True,
    )
    own = fetcher.connection()
    with state.changed:
        state.connections.add(own)
    connection: http.client.HTTPConnection | None = own
    try:
        try:
            with deadline_scope(fetcher.limits.deadline()):
                state.receive_block(response, first, memoryview(bytearray(CHUNK)), digest)
            # The rest of the prefix is hashed on a thread of its own, reading back what was written.
            hasher.start()
            if not response.isclosed() or response.will_close:
                fetcher.drop()  # bytes beyond the block, or a closing server: never read them
                connection = None
            # The calling thread goes on taking blocks on its keep-alive connection.
            state.fetch_blocks(connection, state.take(), own=False)
        except _Stopped:
            pass
        except BaseException as exc:
            state.fail(exc)
        finally:
            _join(helpers, hasher)
    except BaseException as exc:  # interrupted again while waiting for the helpers (a second Ctrl-C)
        state.fail(exc)
        _join(helpers, hasher)
    if state.failure is not None:
        fetcher.drop()
        with state.changed:
            prefix = state.frontier()
        state.target.keep_prefix(prefix)
        raise state.failure
    return digest.hexdigest()


def _join(helpers: list[threading.Thread], hasher: threading.Thread) -> None:
    for helper in helpers:
        helper.join()
    if hasher.ident is not None:
        hasher.join()
