"""The benchmark's latency-injecting proxy delays by what it is told, keeps order, serves many connections,
and (by default) bounds each connection's window as TCP's slow start does."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import pytest

from tests.benchmarks.latency import INITIAL_WINDOW, LatencyProxy, parse_delay, parse_window

RTT = 0.1
TOLERANCE = 0.03


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := self.request.recv(65536):
            self.request.sendall(data)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


@pytest.fixture
def proxy() -> Iterator[LatencyProxy]:
    server = _Server(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        # The delay alone here (window=0); the window's own tests are below.
        with LatencyProxy("127.0.0.1", server.server_address[1], RTT, window=0) as running:
            yield running
    finally:
        server.shutdown()
        server.server_close()


def _connect(proxy: LatencyProxy) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, "connection closed early"
        data += chunk
    return data


def test_round_trip_is_the_configured_delay(proxy: LatencyProxy) -> None:
    with _connect(proxy) as sock:
        sock.sendall(b"x")  # pays the handshake round trip
        assert _receive(sock, 1) == b"x"
        for _ in range(3):
            start = time.perf_counter()
            sock.sendall(b"p")
            assert _receive(sock, 1) == b"p"
            assert abs(time.perf_counter() - start - RTT) < TOLERANCE


def test_a_new_connection_pays_one_round_trip_before_its_first_exchange(proxy: LatencyProxy) -> None:
    start = time.perf_counter()
    with _connect(proxy) as sock:
        sock.sendall(b"x")
        assert _receive(sock, 1) == b"x"
    assert abs(time.perf_counter() - start - 2 * RTT) < TOLERANCE


def test_pipelined_requests_keep_their_order_and_do_not_wait_for_answers(proxy: LatencyProxy) -> None:
    messages = [f"request {i:03d};".encode() * (1 + i * 50) for i in range(40)]
    with _connect(proxy) as sock:
        sock.sendall(b"x")
        _receive(sock, 1)
        start = time.perf_counter()
        for message in messages:
            sock.sendall(message)
        expected = b"".join(messages)
        assert _receive(sock, len(expected)) == expected
        # All 40 were in flight together: one round trip, not 40.
        assert time.perf_counter() - start < RTT + TOLERANCE * 2


def test_several_connections_at_once(proxy: LatencyProxy) -> None:
    results: dict[int, bytes] = {}

    def one(index: int) -> None:
        with _connect(proxy) as sock:
            payload = bytes([index]) * 100_000
            sock.sendall(payload)
            results[index] = _receive(sock, len(payload))

    start = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert {i: len(r) for i, r in results.items()} == {i: 100_000 for i in range(16)}
    assert all(r == bytes([i]) * 100_000 for i, r in results.items())
    # Handshake plus one round trip, concurrently for all of them.
    assert time.perf_counter() - start < 2 * RTT + 0.15


def test_delays_are_parsed_as_round_trip_seconds() -> None:
    assert parse_delay("20ms") == pytest.approx(0.02)
    assert parse_delay("0.05s") == pytest.approx(0.05)
    assert parse_delay("5") == pytest.approx(0.005)
    with pytest.raises(ValueError, match="not a delay"):
        parse_delay("fast")


class _Sender(socketserver.BaseRequestHandler):
    """Sends ``SENT`` bytes as soon as a connection is accepted."""

    def handle(self) -> None:
        self.request.sendall(b"w" * SENT)


SENT = 7 * INITIAL_WINDOW  # 1 + 2 + 4 windows: three round trips of slow start
WINDOW_RTT = 0.05


def _time_to_receive(window: int) -> float:
    server = _Server(("127.0.0.1", 0), _Sender)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        with LatencyProxy("127.0.0.1", server.server_address[1], WINDOW_RTT, window=window) as proxy:
            start = time.perf_counter()
            with _connect(proxy) as sock:
                assert _receive(sock, SENT) == b"w" * SENT
            return time.perf_counter() - start
    finally:
        server.shutdown()
        server.server_close()


def test_a_new_connection_starts_slow_and_doubles_its_window_each_round_trip() -> None:
    # 10 segments in the first round trip, 20 in the second, 40 in the third: the last byte is read from
    # the server after two round trips and arrives half a round trip later.
    assert 2.5 * WINDOW_RTT - TOLERANCE < _time_to_receive(4 << 20) < 2.5 * WINDOW_RTT + TOLERANCE
    # Without a window, everything arrives after the one-way delay.
    assert _time_to_receive(0) < WINDOW_RTT


def test_the_window_stops_growing_at_its_bound() -> None:
    # Capped just above the first window, every later round trip carries the cap: 14480, then 16384 per
    # round trip, so the last of 101,360 bytes leaves the server after 6 round trips instead of 2.
    assert _time_to_receive(16 << 10) > 5.5 * WINDOW_RTT


def test_windows_are_parsed_as_bytes() -> None:
    assert parse_window("4MiB") == 4 << 20
    assert parse_window("512KiB") == 512 << 10
    assert parse_window("0") == 0
    with pytest.raises(ValueError, match="not a window"):
        parse_window("big")
