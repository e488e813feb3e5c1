"""Connections of the embedded service: one event-loop thread and a fixed number of worker threads.

Why not a thread per connection (the standard library's ``ThreadingHTTPServer``, used before): any local
user could open a thousand idle connections, exhaust the process's file descriptors and leave ``accept``
failing in a busy loop while ``/info`` went unanswered (issue 19). Here:

- **The loop thread** owns the listening socket and every connection between requests. It reads without
  blocking until a request's header block is complete and only then hands the connection to a worker, so
  an idle connection, or one sending its request a byte at a time, costs a descriptor and a buffer, never a
  thread. Idle connections are closed after :data:`IDLE_TIMEOUT`, unfinished headers after
  :data:`HEADER_TIMEOUT`.
- **The loop answers a read without a body itself** (the common GET): nothing in it can wait on the
  client, and a hand-off to another thread doubled the CPU time of a small file. Requests that may wait
  for a body go to **workers**, and ``POST`` requests (actions, which may wait a minute for a lock) to
  workers of their own, so reads never queue behind them. Answers are written without blocking: whatever
  the socket does not take at once (a large file to a slow reader) is finished by the loop when the
  socket becomes writable, so a slow reader holds no thread either. Reads wait on no other process:
  files are opened non-blocking and FIFOs refused.
- **Descriptors**: the soft open-file limit is raised to the hard limit at start-up; connections are
  capped below it, the longest-idle one making room for a new one at the cap; when ``accept`` fails for want
  of descriptors anyway, the loop closes an idle connection or pauses accepting for a moment instead of
  retrying at once.

Each connection belongs to one thread at a time: with epoll a connection is watched with
``EPOLLONESHOT``, so after one event it stays silent until its owner arms it again (a worker arms it
directly, epoll being safe across threads). Elsewhere the same is done with :mod:`selectors`, workers
passing connections back to the loop through a queue.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import os
import queue
import re
import resource
import select
import selectors
import socket
import threading
import time
from collections.abc import Callable

__all__ = ["HEADER_TIMEOUT", "IDLE_TIMEOUT", "MAX_HEADER_BYTES", "Connection", "EventLoopServer"]

log = logging.getLogger("gobbler_sdk.server.http")

#: Seconds a kept-alive connection may wait for its next request (the reference never closes one).
IDLE_TIMEOUT = 120.0
#: Seconds from the first byte of a request to the end of its header block.
HEADER_TIMEOUT = 30.0
#: Seconds a worker waits for more of a request body, and the loop for a reader to take more of an answer.
IO_TIMEOUT = 30.0
#: Header bytes buffered before a request is judged too large (Go's ``DefaultMaxHeaderBytes``, 1 MiB).
MAX_HEADER_BYTES = 1 << 20
#: Descriptors kept free of connections for the registry's files, locks and the action workers.
RESERVED_DESCRIPTORS = 256
#: Seconds accepting pauses when descriptors run out and no idle connection can be closed to free one.
ACCEPT_BACKOFF = 0.1
#: Workers for reads that may wait on a request body (the loop answers the others itself).
READ_WORKERS = 16
#: Workers for POST (actions): each may hold a lock or wait up to a minute for one.
ACTION_WORKERS = 64

_RECV_SIZE = 1 << 16
_ENDS_OF_HEADERS = (b"\n\r\n", b"\n\n")
_CONTENT_LENGTH = re.compile(rb"\ncontent-length:[ \t]*(\d{1,10})[ \t]*\r?\n")
_OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# Passing connections between processes: at most this many unparsed bytes go with a socket.
_FORWARD_LIMIT = 1 << 17
_READY = b"ready"
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n\r\n431 Request Header Fields Too Large"
)
# Connection states: who owns it and what it waits for.
_READING, _WORKING, _WRITING = "reading", "working", "writing"


def raise_open_file_limit() -> int:
    """Raise the soft limit on open files as far as the hard limit allows; return the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        # An infinite hard limit cannot be the soft one on Linux (above fs.nr_open); a large value can.
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        for wanted in (target, 1 << 20, 65536):
            if wanted <= soft:
                break
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
                soft = wanted
                break
            except (ValueError, OSError):
                continue
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


class _Closed(Exception):
    """The peer went away, or did not send or read in time: drop the connection."""


class HeaderTooLarge(Exception):
    """The header block did not end within :data:`MAX_HEADER_BYTES`."""


class Connection:
    """One client connection: its socket, the bytes received but not yet parsed, and pending output.

    A worker reads the request with :meth:`readline` and :meth:`read` (the header block is already
    buffered; a body may need waiting for) and answers with :meth:`write` and :meth:`send_file`, which never
    block: what the socket does not take is queued for the loop.
    """

    __slots__ = (
        "_buffer",
        "_output",
        "_position",
        "close_after",
        "deadline",
        "fd",
        "idle_since",
        "sock",
        "state",
    )

    def __init__(self, sock: socket.socket, received: bytes = b"") -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self._buffer = bytearray(received)
        self._position = 0
        # Pending output: bytes, or (file descriptor, offset, count) regions sent with sendfile.
        self._output: collections.deque[bytes | memoryview | list[int]] = collections.deque()
        self.state = _READING
        self.deadline = time.monotonic() + IDLE_TIMEOUT
        self.idle_since = time.monotonic()
        #: Set by the handler: close once the answer is out instead of waiting for another request.
        self.close_after = False

    # ------------------------------------------------------------------ input

    @property
    def buffered(self) -> bool:
        """Whether bytes of a request not yet handled are buffered."""
        return self._position < len(self._buffer)

    def receive(self) -> None:
        """Append what the socket has to the buffer, without waiting (the loop calls it when readable).

        Raises:
            _Closed: When the peer has closed the connection or it failed.
        """
        self._receive(wait=False)

    def _receive(self, wait: bool) -> bool:
        """Append what the socket has to the buffer; ``False`` when nothing came and ``wait`` is false."""
        while True:
            try:
                data = self.sock.recv(_RECV_SIZE)
            except BlockingIOError:
                if not wait:
                    return False
                if not _wait_for(self.fd, select.POLLIN, IO_TIMEOUT):
                    raise _Closed from None
                continue
            except OSError as exc:
                raise _Closed from exc
            if not data:
                raise _Closed
            if self._position:
                del self._buffer[: self._position]
                self._position = 0
            self._buffer += data
            return True

    def _head(self) -> bytes | None:
        """The buffered header block in lower case with its blank line, ``None`` while incomplete."""
        buffer, start = self._buffer, self._position
        ends = [found + len(end) for end in _ENDS_OF_HEADERS if (found := buffer.find(end, start)) >= 0]
        return bytes(buffer[start : min(ends)]).lower() if ends else None

    def has_request(self) -> bool:
        """Whether a request can be handled without waiting for the client.

        That is a complete header block and, when it announces a body of at most :data:`MAX_HEADER_BYTES`
        by ``Content-Length`` (and does not expect a ``100 Continue`` first), the whole body: a worker then
        never waits on a client that stops sending. Also true for an empty first line or too much header.
        """
        buffer, start = self._buffer, self._position
        if len(buffer) - start >= MAX_HEADER_BYTES:
            return True
        if len(buffer) > start and buffer[start] in b"\r\n":
            return True  # an empty request line, which ends the connection
        head = self._head()
        if head is None:
            return False
        declared = _CONTENT_LENGTH.search(head)
        if declared is None or b"\nexpect:" in head or int(declared[1]) > MAX_HEADER_BYTES:
            return True
        return len(buffer) - start - len(head) >= int(declared[1])

    def has_no_body(self) -> bool:
        """Whether the buffered request's headers announce no body (so answering it never waits for one)."""
        head = self._head()
        return head is not None and not any(
            name in head for name in (b"\ncontent-length:", b"\ntransfer-encoding:", b"\nexpect:")
        )

    def take_buffered(self) -> bytes:
        """Remove and return the bytes received but not yet parsed (to pass them on with the socket)."""
        data = bytes(self._buffer[self._position :])
        self._buffer.clear()
        self._position = 0
        return data

    def is_post(self) -> bool:
        """Whether the buffered request is a POST (actions run on workers of their own)."""
        return self._buffer[self._position : self._position + 5] == b"POST "

    def readline(self, limit: int, *, header: bool = True) -> bytes:
        """One line of at most ``limit`` bytes (longer lines are cut, as ``readline(limit)`` does).

        Raises:
            HeaderTooLarge: When a header line is not all buffered (the loop buffered the maximum).
            _Closed: When the peer closes or stops sending while a body line is awaited.
        """
        while True:
            buffer, start = self._buffer, self._position
            end = buffer.find(b"\n", start, start + limit)
            if end >= 0 or len(buffer) - start >= limit:
                stop = end + 1 if end >= 0 else start + limit
                self._position = stop
                return bytes(buffer[start:stop])
            if header:
                if len(buffer) - start == 0:
                    return b""
                raise HeaderTooLarge
            self._receive(wait=True)

    def read(self, count: int) -> bytes:
        """Up to ``count`` bytes of a body, waiting for them (``b""`` when the peer closes).

        Raises:
            _Closed: When the peer stops sending for :data:`IO_TIMEOUT`.
        """
        if self._position == len(self._buffer):
            try:
                self._receive(wait=True)
            except _Closed:
                return b""
        start = self._position
        stop = min(len(self._buffer), start + count)
        self._position = stop
        return bytes(self._buffer[start:stop])

    # ------------------------------------------------------------------ output

    def write(self, data: bytes | memoryview) -> None:
        """Send ``data`` now as far as the socket takes it; queue the rest."""
        if not self._output:
            try:
                sent = self.sock.send(data)
            except BlockingIOError:
                sent = 0
            except OSError as exc:
                raise _Closed from exc
            if sent == len(data):
                return
            data = memoryview(data)[sent:]
        self._output.append(data)

    def send_file(self, fd: int, offset: int, count: int) -> None:
        """Send ``count`` bytes of the open file ``fd`` from ``offset``; queue a duplicate for the rest."""
        if not self._output:
            while count > 0:
                try:
                    sent = os.sendfile(self.fd, fd, offset, count)
                except BlockingIOError:
                    break
                except OSError as exc:
                    raise _Closed from exc
                if sent == 0:
                    # The file shrank after its length was announced: end the connection, as Go does,
                    # rather than let the next answer pass for the rest of this body.
                    raise _Closed
                offset += sent
                count -= sent
            if count <= 0:
                return
        # The caller closes its descriptor when the handler returns; the loop needs one of its own.
        self._output.append([os.dup(fd), offset, count])

    @property
    def pending(self) -> bool:
        """Whether some output still waits for the socket."""
        return bool(self._output)

    def flush(self) -> bool:
        """Send queued output without blocking; ``True`` once all of it is gone.

        Raises:
            _Closed: When the socket fails.
        """
        output = self._output
        while output:
            item = output[0]
            try:
                if isinstance(item, list):
                    fd, offset, count = item
                    sent = os.sendfile(self.fd, fd, offset, count)
                    if sent == 0:
                        raise _Closed  # the file shrank (see send_file)
                    if sent == count:
                        os.close(fd)
                        output.popleft()
                    else:
                        item[1], item[2] = offset + sent, count - sent
                    continue
                sent = self.sock.send(item)
            except BlockingIOError:
                return False
            except OSError as exc:
                raise _Closed from exc
            if sent == len(item):
                output.popleft()
            else:
                output[0] = memoryview(item)[sent:]
        return True

    def close(self) -> None:
        """Close the socket and any file still queued for sending."""
        for item in self._output:
            if isinstance(item, list):
                os.close(item[0])
        self._output.clear()
        self.sock.close()


def _wait_for(fd: int, events: int, timeout: float) -> bool:
    poller = select.poll()
    poller.register(fd, events)
    return bool(poller.poll(timeout * 1000))


class _Poller:
    """Watch descriptors once each: after one event a descriptor stays silent until armed again.

    ``arm`` may be called from any thread. With epoll it goes straight to the kernel (``EPOLLONESHOT``);
    with another selector it is queued for the loop thread, which is woken to apply it.
    """

    def __init__(self) -> None:
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        self._registered: set[int] = set()
        self._selector = selectors.DefaultSelector() if self._epoll is None else None
        self._pending: collections.deque[tuple[int, bool]] = collections.deque()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._watch(self._wake_reader.fileno(), False, once=False)

    def _watch(self, fd: int, writable: bool, *, once: bool = True) -> None:
        if self._epoll is not None:
            mask = (select.EPOLLOUT if writable else select.EPOLLIN) | (select.EPOLLONESHOT if once else 0)
            if fd in self._registered:
                self._epoll.modify(fd, mask)
            else:
                self._registered.add(fd)
                self._epoll.register(fd, mask)
            return
        assert self._selector is not None
        events = selectors.EVENT_WRITE if writable else selectors.EVENT_READ
        try:
            self._selector.modify(fd, events)
        except KeyError:
            self._selector.register(fd, events)

    def arm(self, fd: int, *, writable: bool = False, from_loop: bool = True) -> None:
        """Report the next event of ``fd`` (readable, or writable) once.

        Raises:
            OSError: When the poller is closed (the service is stopping: a worker finishing its request
                then drops the connection instead of dying on the closed epoll's ``ValueError``).
        """
        if self._epoll is not None or from_loop:
            try:
                self._watch(fd, writable)
            except ValueError:
                raise OSError(errno.EBADF, "the poller is closed: the service is stopping") from None
            return
        self._pending.append((fd, writable))
        self.wake()

    def forget(self, fd: int) -> None:
        """Stop watching ``fd`` (before it is closed)."""
        if self._epoll is not None:
            if fd in self._registered:
                self._registered.discard(fd)
                # ValueError: the poller was closed first (the service is stopping).
                with contextlib.suppress(OSError, ValueError):
                    self._epoll.unregister(fd)
            return
        assert self._selector is not None
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(fd)

    def wake(self) -> None:
        """Interrupt a :meth:`wait` in progress."""
        with contextlib.suppress(BlockingIOError):  # a wake-up is already pending
            self._wake_writer.send(b"x")

    def wait(self, timeout: float) -> list[int]:
        """Descriptors with an event, waiting at most ``timeout`` seconds."""
        if self._epoll is not None:
            ready = [fd for fd, _ in self._epoll.poll(timeout)]
        else:
            assert self._selector is not None
            ready = [int(key.fd) for key, _ in self._selector.select(timeout)]
            for fd in ready:
                if fd != self._wake_reader.fileno():
                    self._selector.unregister(fd)  # one event each, as with EPOLLONESHOT
        wake = self._wake_reader.fileno()
        if wake in ready:
            ready.remove(wake)
            try:
                while self._wake_reader.recv(4096):
                    pass
            except BlockingIOError:
                pass
            while self._pending:
                self._watch(*self._pending.popleft())
        return ready

    def close(self) -> None:
        """Release the poller and its wake-up sockets."""
        if self._epoll is not None:
            self._epoll.close()
        if self._selector is not None:
            self._selector.close()
        self._wake_reader.close()
        self._wake_writer.close()


Handler = Callable[[Connection], None]


class _Peer:
    """Another process of the same service, reached over a Unix socket (:meth:`EventLoopServer.add_peer`)."""

    __slots__ = ("ready", "sock", "takes_posts")

    def __init__(self, sock: socket.socket, takes_posts: bool, ready: bool) -> None:
        self.sock = sock
        self.takes_posts = takes_posts
        self.ready = ready


class EventLoopServer:
    """A TCP server running ``handler`` on each complete request (module documentation).

    Args:
        address: ``(host, port)`` to bind; port 0 picks a free port.
        handler: Called in a worker thread with a connection holding one complete header block; it reads
            the request, writes the answer and sets ``close_after`` when the connection must end.
        backlog: Length of the listening socket's queue.
        listening: An already listening socket to serve instead of binding ``address``.
        action_workers: Threads for POST requests (0 where POSTs always go to a peer process).

    Raises:
        OSError: When the address cannot be bound.
        OverflowError: When the port is outside 0-65535.
    """

    def __init__(
        self,
        address: tuple[str, int],
        handler: Handler,
        *,
        backlog: int = 1024,
        listening: socket.socket | None = None,
        action_workers: int = ACTION_WORKERS,
    ) -> None:
        self._handler = handler
        limit = raise_open_file_limit()
        #: Connections kept open at most; at the cap the longest-idle one makes room for a new one.
        self.max_connections = max(16, limit - RESERVED_DESCRIPTORS)
        self.socket = listening if listening is not None else socket.create_server(address, backlog=backlog)
        self.socket.setblocking(False)
        self._peers: dict[int, _Peer] = {}
        self._next_peer = 0
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self._connections: dict[int, Connection] = {}
        self._poller = _Poller()
        self._worker_counts = {False: READ_WORKERS, True: action_workers}
        self._queues = {
            False: queue.SimpleQueue[Connection | None](),
            True: queue.SimpleQueue[Connection | None](),
        }
        self._workers: list[threading.Thread] = []
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        self._accept_paused_until = 0.0

    # ------------------------------------------------------------------ lifetime

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Run the loop in the calling thread until :meth:`shutdown`."""
        self._stop.clear()
        self._stopped.clear()
        try:
            for posts, count in self._worker_counts.items():
                for number in range(count):
                    kind = "action" if posts else "read"
                    worker = threading.Thread(
                        target=self._work,
                        args=(self._queues[posts],),
                        name=f"gobbler-{kind}-{number}",
                        daemon=True,
                    )
                    worker.start()
                    self._workers.append(worker)
            self._arm_listening()
            for peer in self._peers.values():
                self._poller.arm(peer.sock.fileno())
            next_sweep = time.monotonic() + 1.0
            while not self._stop.is_set():
                for fd in self._poller.wait(min(poll_interval, 1.0)):
                    if fd == self.socket.fileno():
                        self._accept()
                        continue
                    source = self._peers.get(fd)
                    if source is not None:
                        self._on_peer(source)
                        continue
                    connection = self._connections.get(fd)
                    if connection is not None:
                        self._on_event(connection)
                now = time.monotonic()
                if self._accept_paused_until and now >= self._accept_paused_until:
                    self._accept_paused_until = 0.0
                    self._arm_listening()
                if now >= next_sweep:
                    self._sweep(now)
                    next_sweep = now + 1.0
        finally:
            for posts, count in self._worker_counts.items():
                for _ in range(count):
                    self._queues[posts].put(None)
            self._workers.clear()
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop :meth:`serve_forever` and wait until it has returned."""
        self._stop.set()
        self._poller.wake()
        self._stopped.wait()

    def server_close(self) -> None:
        """Close the listening socket, every connection and the sockets to peer processes."""
        for connection in list(self._connections.values()):
            self._drop(connection)
        for peer in list(self._peers.values()):
            peer.sock.close()
        self._peers.clear()
        self._poller.close()
        self.socket.close()

    # ------------------------------------------------------------------ loop thread

    def _accept(self) -> None:
        for _ in range(64):  # then let the connections already open have their turn
            try:
                sock, _ = self.socket.accept()
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno in _OUT_OF_DESCRIPTORS:
                    if self._evict_idle():
                        continue
                    # Nothing to close: retrying at once would spin; wait for descriptors to free up.
                    log.warning("out of file descriptors; pausing new connections for %g s", ACCEPT_BACKOFF)
                    self._accept_paused_until = time.monotonic() + ACCEPT_BACKOFF
                    return
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.EINTR):
                    continue
                raise
            if len(self._connections) >= self.max_connections and not self._evict_idle():
                sock.close()
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = Connection(sock)
            self._connections[connection.fd] = connection
            self._poller.arm(connection.fd)
        self._arm_listening()

    def _evict_idle(self) -> bool:
        """Close the connection that has waited longest for a request; ``False`` when none waits."""
        idle = [c for c in list(self._connections.values()) if c.state == _READING]
        if not idle:
            return False
        self._drop(min(idle, key=lambda c: c.idle_since))
        return True

    def _on_event(self, connection: Connection) -> None:
        try:
            if connection.state == _WRITING:
                if connection.flush():
                    self._next_request(connection, from_loop=True)
                else:
                    connection.deadline = time.monotonic() + IO_TIMEOUT
                    self._poller.arm(connection.fd, writable=True)
                return
            starting = not connection.buffered
            connection.receive()
            if starting:
                connection.deadline = time.monotonic() + HEADER_TIMEOUT  # first bytes of a request
            if connection.has_request():
                self._hand_over(connection)
            else:
                self._poller.arm(connection.fd)
        except _Closed:
            self._drop(connection)

    def _hand_over(self, connection: Connection) -> None:
        connection.state = _WORKING
        self._serve(connection, in_loop=True)

    # ------------------------------------------------------------------ peer processes

    def add_peer(self, sock: socket.socket, *, takes_posts: bool, ready: bool) -> None:
        """Share the work with another process over ``sock`` (an ``AF_UNIX``, ``SOCK_SEQPACKET`` socket).

        A connection whose next request is of the peer's kind (a POST when ``takes_posts``, else any other
        method) is passed to it, socket and unparsed bytes together, and never comes back; connections the
        peer passes arrive the same way. While a peer that takes reads is ready, this process stops
        accepting connections: the peers accept them. Call before :meth:`serve_forever`.
        """
        sock.settimeout(IO_TIMEOUT)  # a send only waits while the peer's queue is full
        self._peers[sock.fileno()] = _Peer(sock, takes_posts, ready)

    def announce_ready(self) -> None:
        """Tell every peer that this process serves now."""
        for peer in self._peers.values():
            peer.sock.send(_READY)

    def _peer_for(self, post: bool) -> _Peer | None:
        candidates = [p for p in self._peers.values() if p.ready and p.takes_posts == post]
        if not candidates:
            return None
        self._next_peer += 1
        return candidates[self._next_peer % len(candidates)]

    def _arm_listening(self) -> None:
        if not any(p.ready and not p.takes_posts for p in self._peers.values()):
            self._poller.arm(self.socket.fileno())

    def _forward(self, connection: Connection, peer: _Peer) -> None:
        """Pass a connection to ``peer`` and forget it here (any thread)."""
        data = connection.take_buffered()
        if len(data) > _FORWARD_LIMIT:
            # Too large for one message, and only a request with an absurd header block gets here.
            connection.close_after = True
            with contextlib.suppress(_Closed):
                connection.write(_TOO_LARGE)
            self._drop(connection)
            return
        try:
            socket.send_fds(peer.sock, [data], [connection.fd])
        except OSError:
            log.warning("a peer process does not take connections any more")
        self._drop(connection)

    def _on_peer(self, peer: _Peer) -> None:
        """A connection passed by ``peer``, a readiness notice, or the peer's end."""
        try:
            data, fds, _, _ = socket.recv_fds(peer.sock, _FORWARD_LIMIT, 1, socket.MSG_DONTWAIT)
        except BlockingIOError:
            self._poller.arm(peer.sock.fileno())
            return
        except OSError:
            data, fds = b"", []
        if not fds:
            if data == _READY:
                peer.ready = True
                self._poller.arm(peer.sock.fileno())
                return
            self._peer_gone(peer)
            return
        sock = socket.socket(fileno=fds[0])
        sock.setblocking(False)
        connection = Connection(sock, data)
        self._connections[connection.fd] = connection
        self._poller.arm(peer.sock.fileno())
        connection.state = _WORKING
        self._serve(connection, in_loop=True)

    def _peer_gone(self, peer: _Peer) -> None:
        del self._peers[peer.sock.fileno()]
        self._poller.forget(peer.sock.fileno())
        peer.sock.close()
        if peer.takes_posts:
            # The process that runs actions has gone: so has the service.
            self._stop.set()
            return
        log.warning("a process serving reads has exited")
        self._arm_listening()

    def _sweep(self, now: float) -> None:
        """Close connections that have waited too long for a request or for their reader."""
        for connection in list(self._connections.values()):
            if connection.state != _WORKING and connection.deadline <= now:
                self._drop(connection)

    def _drop(self, connection: Connection) -> None:
        if self._connections.get(connection.fd) is connection:
            del self._connections[connection.fd]
        self._poller.forget(connection.fd)
        connection.close()

    # ------------------------------------------------------------------ any thread

    def _next_request(self, connection: Connection, *, from_loop: bool) -> None:
        """After an answer has gone out: close, serve a request already received, or wait for one."""
        if connection.close_after:
            self._drop(connection)
            return
        if connection.has_request():
            self._hand_over(connection)
            return
        # Deadline before state: the loop's sweep must never see this connection idle with an old deadline.
        connection.idle_since = now = time.monotonic()
        connection.deadline = now + (HEADER_TIMEOUT if connection.buffered else IDLE_TIMEOUT)
        connection.state = _READING
        # OSError: evicted by the loop between the two lines above (it needed a descriptor), so closed.
        with contextlib.suppress(OSError):
            self._poller.arm(connection.fd, from_loop=from_loop)

    # ------------------------------------------------------------------ worker threads

    def _work(self, jobs: queue.SimpleQueue[Connection | None]) -> None:
        while (connection := jobs.get()) is not None:
            self._serve(connection, in_loop=False)

    def _serve(self, connection: Connection, *, in_loop: bool) -> None:
        """Answer the buffered requests of a connection, or pass them to where they belong.

        The loop thread answers a read without a body itself: it cannot wait on the client, and handing it
        to a worker (two thread wake-ups and an interpreter lock hand-off) doubled the CPU time of a
        small file. Anything else goes to a worker, and a request for the other kind of process to it.
        """
        while True:
            post = connection.is_post()
            peer = self._peer_for(post)
            if peer is not None:
                self._forward(connection, peer)
                return
            if in_loop and (post or not connection.has_no_body()):
                self._queues[post].put(connection)
                return
            try:
                self._handler(connection)
            except _Closed:
                self._drop(connection)
                return
            except Exception:
                log.exception("request handler failed")
                self._drop(connection)
                return
            if connection.pending:
                connection.deadline = time.monotonic() + IO_TIMEOUT
                connection.state = _WRITING
                # OSError: the service is stopping, or the loop evicted the connection (and closed it).
                with contextlib.suppress(OSError):
                    self._poller.arm(connection.fd, writable=True, from_loop=in_loop)
                return
            if connection.close_after or not connection.has_request():
                self._next_request(connection, from_loop=in_loop)
                return
            # Another request is already buffered (pipelining): go on with it.
