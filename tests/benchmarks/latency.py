"""A network delay between the benchmark's clients and the service: ``tc netem`` when the kernel has it,
else a small latency-injecting TCP proxy on loopback.

The proxy forwards every byte after a fixed one-way delay (half the configured round trip) in each
direction, keeping order and pipelining: a chunk read at time ``t`` is written at ``t + delay``, whatever
follows it is queued behind it, and nothing waits for an answer before the next request is forwarded. A new
connection pays one round trip before its first byte is forwarded, as a TCP handshake would. It runs an
asyncio loop on one daemon thread, serves many connections at once, and stops (closing everything) with
:meth:`LatencyProxy.close`.

A real network also bounds what one TCP connection carries per round trip: its sender may have at most a
congestion window of bytes unacknowledged, which starts at 10 segments (RFC 6928), grows by every
acknowledged byte (doubling each round trip, slow start) and is capped by the socket buffers (Linux's
``tcp_wmem`` maximum is 4 MiB). With ``window`` set (:data:`LINUX_WINDOW` by default), the proxy keeps that
bound in each direction of each connection: it reads no more from a side than the window allows, and a byte
read at ``t`` is acknowledged (frees the window, and grows it) at ``t + rtt``. Without it (``window=0``)
only the delay is added, and one connection carries as much as the proxy's loop forwards (measured: then
8 parallel connections are no faster than one, which is not what a network with a long round trip does).
There is no loss, so the window never shrinks, and a kept-alive connection keeps its window while idle.

``tc netem`` is tried only as root and only scoped to the service's port (a ``prio`` qdisc on ``lo`` with
a fourth band that nothing else uses, and ``u32`` filters on the port), so other loopback traffic is not
delayed. The kernels of these machines answer "Specified qdisc kind is unknown", so the proxy is the usual
path; either way :func:`ping_rtt` measures the round trip actually obtained with a 1-byte ping-pong.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

#: Bytes read from one side at a time.
_CHUNK = 256 * 1024
_FILTER = ("filter", "add", "dev", "lo", "protocol", "ip", "parent", "1:0", "prio", "1", "u32")
#: Chunks queued in one direction at most (back-pressure: 64 MiB in flight per direction and connection).
_QUEUE = 256
#: A new connection's congestion window: 10 segments of 1448 bytes (RFC 6928, Linux's default).
INITIAL_WINDOW = 10 * 1448
#: Most bytes one connection has unacknowledged: Linux's default ``net.ipv4.tcp_wmem`` maximum, 4 MiB.
LINUX_WINDOW = 4 << 20


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


def parse_delay(text: str) -> float:
    """Seconds of a round trip written as ``20ms``, ``0.02s`` or ``20`` (milliseconds)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s)?\s*", text)
    if match is None:
        raise ValueError(f"not a delay: {text!r} (write e.g. 20ms)")
    value = float(match.group(1))
    return value if match.group(2) == "s" else value / 1000


def parse_window(text: str) -> int:
    """Bytes of a congestion window written as ``4MiB``, ``512KiB`` or a plain number (``0``: none)."""
    match = re.fullmatch(r"\s*([0-9]+)\s*(KiB|MiB)?\s*", text)
    if match is None:
        raise ValueError(f"not a window size: {text!r} (write e.g. 4MiB, or 0)")
    return int(match.group(1)) << {"KiB": 10, "MiB": 20}.get(match.group(2) or "", 0)


class LatencyProxy:
    """Forward ``127.0.0.1:<port>`` to ``target`` with ``rtt / 2`` seconds of delay in each direction.

    Args:
        target_host: Host the service listens on.
        target_port: Its port.
        rtt: Round-trip time to add, in seconds.
        window: Largest congestion window of a connection in bytes (slow start from
            :data:`INITIAL_WINDOW` up to it); ``0`` adds the delay alone.
    """

    def __init__(self, target_host: str, target_port: int, rtt: float, window: int = LINUX_WINDOW) -> None:
        self.target = (target_host, target_port)
        self.rtt = rtt
        self.delay = rtt / 2
        self.window = window
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, name="latency-proxy", daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` of the proxy."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LatencyProxy:
        """Listen on a free loopback port and start forwarding."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = future.result(timeout=10)
        return self

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=512)
        return int(self._server.sockets[0].getsockname()[1])

    async def _connection(self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        opened = time.monotonic()
        try:
            upstream_reader, upstream = await asyncio.open_connection(*self.target)
        except OSError:
            client.close()
            return
        for writer in (client, upstream):
            self._writers.add(writer)
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # The first bytes cannot leave before the handshake a real network would have needed.
        handshake = opened + self.rtt
        try:
            await asyncio.gather(
                self._direction(client_reader, upstream, handshake),
                self._direction(upstream_reader, client, opened),
            )
        finally:
            for writer in (client, upstream):
                self._writers.discard(writer)
                writer.close()

    async def _direction(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, not_before: float
    ) -> None:
        """Copy ``reader`` to ``writer``, each chunk ``delay`` seconds after it arrived."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(maxsize=_QUEUE)

        # Bytes read and not yet acknowledged, with when their acknowledgement arrives.
        unacknowledged: collections.deque[tuple[float, int]] = collections.deque()
        window, in_flight = INITIAL_WINDOW, 0

        async def room() -> int:
            """Bytes the window lets this side send now (waiting for acknowledgements when none)."""
            nonlocal window, in_flight
            if not self.window:
                return _CHUNK
            while True:
                now = time.monotonic()
                while unacknowledged and unacknowledged[0][0] <= now:
                    acknowledged = unacknowledged.popleft()[1]
                    in_flight -= acknowledged
                    window = min(window + acknowledged, self.window)
                free = window - in_flight
                if free > 0:
                    return min(free, _CHUNK)
                await asyncio.sleep(unacknowledged[0][0] - now)

        async def receive() -> None:
            nonlocal in_flight
            try:
                while chunk := await reader.read(await room()):
                    sent = max(time.monotonic(), not_before)
                    if self.window:
                        unacknowledged.append((sent + self.rtt, len(chunk)))
                        in_flight += len(chunk)
                    await queue.put((sent + self.delay, chunk))
            except OSError:
                pass
            finally:
                await queue.put((0.0, b""))

        async def send() -> None:
            try:
                while True:
                    due, chunk = await queue.get()
                    if not chunk:
                        if writer.can_write_eof():
                            writer.write_eof()
                        return
                    wait = due - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    writer.write(chunk)
                    await writer.drain()
            except OSError:
                writer.close()

        receiving = asyncio.ensure_future(receive())
        try:
            await send()
        finally:
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await receiving

    def close(self) -> None:
        """Stop listening, close every connection and stop the thread."""
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> LatencyProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class Netem:
    """``tc netem`` delay on loopback traffic to and from one port (root and a kernel with netem only)."""

    def __init__(self, port: int, rtt: float) -> None:
        self.port = port
        self.rtt = rtt
        self.active = False

    def _tc(self, *arguments: str) -> bool:
        tc = shutil.which("tc")
        if tc is None:
            return False
        result = subprocess.run([tc, *arguments], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log(f"tc {' '.join(arguments)}: {result.stderr.strip() or result.returncode}")
        return result.returncode == 0

    def start(self) -> bool:
        """Install the delay; returns whether it worked (nothing is left installed when it did not)."""
        if os.geteuid() != 0 or shutil.which("tc") is None:
            return False
        one_way = f"{self.rtt * 1000 / 2:.3f}ms"
        # Band 4 is reached only through the filters: the default priomap uses bands 1-3.
        steps: Sequence[Sequence[str]] = [
            ("qdisc", "add", "dev", "lo", "root", "handle", "1:", "prio", "bands", "4"),
            ("qdisc", "add", "dev", "lo", "parent", "1:4", "handle", "40:", "netem", "delay", one_way),
            *(
                (*_FILTER, "match", "ip", side, str(self.port), "0xffff", "flowid", "1:4")
                for side in ("dport", "sport")
            ),
        ]
        for index, step in enumerate(steps):
            if not self._tc(*step):
                if index > 0:
                    self._tc("qdisc", "del", "dev", "lo", "root", "handle", "1:")
                return False
        self.active = True
        return True

    def close(self) -> None:
        """Remove the delay."""
        if self.active:
            self._tc("qdisc", "del", "dev", "lo", "root", "handle", "1:")
            self.active = False


def ping_rtt(host: str, port: int, *, samples: int = 3) -> float:
    """Median seconds of a 1-byte ping-pong through whatever lies between here and ``host:port``.

    The service answers the byte ``G`` only once a request is complete, so the pong is the start of an
    HTTP answer to a minimal request sent in two parts: the last byte of the request is the ping. The
    connection is set up (and its handshake paid) before timing.
    """
    times: list[float] = []
    for _ in range(samples):
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(b"GET /list?path=.. HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r")
            time.sleep(0.2)  # the head has crossed, so only the ping byte is in flight when timing
            start = time.perf_counter()
            sock.sendall(b"\n")
            if not sock.recv(1):
                raise ConnectionError("no answer to the ping")
            times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


class ProxyProcess:
    """A :class:`LatencyProxy` in a child process, so it never competes for the GIL with a measured client.

    Args:
        target_host: Host the service listens on.
        target_port: Its port.
        rtt: Round-trip time to add, in seconds.
        window: Largest congestion window of a connection (see :class:`LatencyProxy`).
    """

    def __init__(self, target_host: str, target_port: int, rtt: float, window: int = LINUX_WINDOW) -> None:
        self.arguments = [target_host, str(target_port), repr(rtt), str(window)]
        self.port = 0
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` of the proxy."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ProxyProcess:
        """Start the child and wait for the port it listens on."""
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.benchmarks.latency", *self.arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.strip().isdigit():
            self.close()
            raise RuntimeError(f"the latency proxy did not start: {line!r}")
        self.port = int(line)
        return self

    def close(self) -> None:
        """Stop the child (it also stops by itself when its standard input closes)."""
        if self._process is None:
            return
        with contextlib.suppress(OSError):
            if self._process.stdin is not None:
                self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


def _serve(arguments: Sequence[str]) -> None:
    """Child side of :class:`ProxyProcess`: print the port, forward until standard input closes."""
    host, port, rtt, window = arguments
    with LatencyProxy(host, int(port), float(rtt), int(window)) as proxy:
        print(proxy.port, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    _serve(sys.argv[1:])
