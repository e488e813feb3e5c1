"""Connection floods from one local user (issue 19): idle and half-sent connections must not silence it.

The first test runs against either implementation (the reference answers at once too). The others need the
embedded service: a process with few file descriptors, and in-process servers whose file limit is lowered
while they run, to reach the moments where ``accept`` fails for want of descriptors.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import os
import resource
import select
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gobbler_sdk.server import EmbeddedServer, ServerConfig
from gobbler_sdk.testing import GobblerService

from ..conftest import GOBBLER_BINARY

FLOOD = 1500
_T = TypeVar("_T")
_TICKS = os.sysconf("SC_CLK_TCK")
# Starts the command after it with RLIMIT_NOFILE set to argv[1] (soft and hard), in the same process.
_WITH_FILE_LIMIT = (
    "import os, resource, sys; n = int(sys.argv[1]); "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)); os.execv(sys.argv[2], sys.argv[2:])"
)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (``/proc/<pid>/stat`` fields 14 and 15)."""
    with open(f"/proc/{pid}/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("Threads:"))


def _info(port: int, timeout: float = 5.0) -> tuple[int, float]:
    """``GET /info`` on a new connection: status and seconds until the whole answer arrived."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/info")
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - started
    finally:
        connection.close()


@pytest.fixture
def many_descriptors() -> Iterator[None]:
    """Let this process hold the flood's sockets (the soft limit raised for the test, then restored)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FLOOD + 200
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard limit on open files ({hard}) is below {wanted}")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@contextlib.contextmanager
def _flood(port: int, count: int = FLOOD) -> Iterator[list[socket.socket]]:
    """``count`` connections that never finish a request: half say nothing, half send half a header."""
    sockets: list[socket.socket] = []
    try:
        for number in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if number % 2:
                sock.sendall(b"GET /info HTTP/1.1\r\nHost: flood\r\n")
            sockets.append(sock)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def _assert_answers_and_idles(pid: int, port: int) -> None:
    before = _cpu_seconds(pid)
    status, seconds = _info(port)
    assert (status, seconds < 1.0) == (200, True), f"/info took {seconds:.2f} s"
    time.sleep(2.0)
    used = _cpu_seconds(pid) - before
    # A loop retrying a failing accept burns the whole 2 s; serving one request costs milliseconds.
    assert used < 0.5, f"the service used {used:.2f} s of CPU in 2 s while the connections sat idle"


class _FewDescriptors(GobblerService):
    """A service started with a hard limit of ``limit`` open files, which it cannot raise."""

    def __init__(self, limit: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limit = limit

    def command(self) -> list[str]:
        return [sys.executable, "-c", _WITH_FILE_LIMIT, str(self.limit), *super().command()]


@contextlib.contextmanager
def _soft_file_limit(limit: int) -> Iterator[None]:
    """This process's soft limit on open files set to ``limit`` (for the children it starts meanwhile)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(
        resource.RLIMIT_NOFILE, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard)
    )
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_idle_and_slow_connections_do_not_silence_the_service(many_descriptors: None) -> None:
    # The usual soft limit of 1,024 at start-up, as where the flood was found.
    with _soft_file_limit(1024):
        service = GobblerService(binary=GOBBLER_BINARY).start()
    with service, _flood(service.port):
        assert service.process is not None
        time.sleep(0.5)  # let the service take every connection
        _assert_answers_and_idles(service.process.pid, service.port)
        if service.backend == "embedded":
            # No thread per connection: the flood added none.
            assert _threads(service.process.pid) < 100


@pytest.mark.embedded_only
def test_the_open_file_limit_is_raised_at_start_up() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard < 2048:
        pytest.skip("needs a finite hard limit on open files of at least 2048")
    with _soft_file_limit(1024):
        service = GobblerService().start()
    try:
        assert service.process is not None
        limits = Path(f"/proc/{service.process.pid}/limits").read_text().splitlines()
        line = next(line for line in limits if line.startswith("Max open files"))
        assert line.split()[3:5] == [str(hard), str(hard)]
    finally:
        service.stop()


@pytest.mark.embedded_only
def test_a_flood_beyond_the_file_limit_closes_the_longest_idle(many_descriptors: None) -> None:
    # 512 descriptors that cannot be raised: the connections are capped at 256, the longest-idle make room.
    with _FewDescriptors(512) as service, _flood(service.port) as sockets:
        assert service.process is not None
        time.sleep(0.5)
        _assert_answers_and_idles(service.process.pid, service.port)
        # Connections beyond the cap closed the longest-idle ones to make room. Which process accepted which
        # socket (reader processes share the listening socket) decides which ones, so look at all of them:
        # some were closed, and the closed ones are among the oldest.
        closed = _closed_by_the_service(sockets, within=20.0)
        assert closed, "no connection was closed to make room"
        assert min(closed) < len(sockets) // 2, closed
        assert _threads(service.process.pid) < 100


@pytest.fixture
def in_process(tmp_path: Path) -> Iterator[EmbeddedServer]:
    """An embedded service running in this process, so that its file limit can be lowered while it runs."""
    staging, registry = tmp_path / "staging", tmp_path / "registry"
    staging.mkdir(mode=0o1777)
    staging.chmod(0o1777)
    registry.mkdir()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with EmbeddedServer(ServerConfig(staging=str(staging), registry=str(registry), port=0)) as server:
        try:
            yield server
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _wait_until_accepted(server: EmbeddedServer, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(server.httpd._connections) < count:
        assert time.monotonic() < deadline, "the service did not accept the connections"
        time.sleep(0.01)


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.embedded_only
def test_accept_out_of_descriptors_closes_an_idle_connection(in_process: EmbeddedServer) -> None:
    idle = [socket.create_connection(("127.0.0.1", in_process.port), timeout=5) for _ in range(50)]
    try:
        _wait_until_accepted(in_process, len(idle))  # each holds a descriptor here on both ends
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (_open_descriptors() + 12, hard))
        newcomers = [_connect_making_room(in_process.port) for _ in range(8)]
        status, seconds = _making_room(lambda: _info(in_process.port))
        assert (status, seconds < 1.0) == (200, True)
        # The service closed some of the idle ones, oldest first, to accept the newcomers and /info.
        idle[0].settimeout(5)
        assert idle[0].recv(1) == b""
        for sock in newcomers:
            sock.close()
    finally:
        for sock in idle:
            sock.close()


def _closed_by_the_service(sockets: list[socket.socket], within: float) -> list[int]:
    """Indexes of the sockets the service has closed (end of stream), waiting up to ``within`` seconds."""
    by_fd = {sock.fileno(): index for index, sock in enumerate(sockets)}
    poller = select.poll()  # not select(): the flood's descriptors go past FD_SETSIZE
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    closed: set[int] = set()
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        events = poller.poll(500)
        for fd, _ in events:
            index = by_fd[fd]
            poller.unregister(fd)
            try:
                ended = sockets[index].recv(1) == b""
            except OSError:
                ended = True
            if ended:
                closed.add(index)
        if closed and not events:
            break
    return sorted(closed)


def _making_room(attempt: Callable[[], _T]) -> _T:
    """Run ``attempt`` while this process (client and in-process service alike) is at its descriptor limit.

    The test's sockets and the service's accepted ones share one limit, so the test can race the service
    for the last descriptor; the service then frees some by closing idle connections, and trying again a
    moment later succeeds.
    """
    for _ in range(50):
        try:
            return attempt()
        except OSError as exc:
            if exc.errno != errno.EMFILE:
                raise
            time.sleep(0.05)
    raise AssertionError("the service never made room for a new connection")


def _connect_making_room(port: int) -> socket.socket:
    """A connection opened while this process is at its descriptor limit (see :func:`_making_room`)."""
    return _making_room(lambda: socket.create_connection(("127.0.0.1", port), timeout=5))


@pytest.mark.embedded_only
def test_accept_out_of_descriptors_backs_off_instead_of_spinning(in_process: EmbeddedServer) -> None:
    waiting = [socket.socket() for _ in range(3)]
    filler: list[int] = []
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (_open_descriptors() + 20, hard))
        with contextlib.suppress(OSError):
            while True:
                filler.append(os.open(os.devnull, os.O_RDONLY))
        for sock in waiting:
            sock.settimeout(5)
            sock.connect(("127.0.0.1", in_process.port))  # completed by the kernel, not yet accepted
        before = time.process_time()
        time.sleep(1.5)
        used = time.process_time() - before
        # Retrying at once keeps a core busy (0.6 s and more here even on a loaded machine).
        assert used < 0.2, f"{used:.2f} s of CPU in 1.5 s with accept failing"
        for fd in filler:
            os.close(fd)
        filler.clear()
        # Descriptors are back: the waiting connections are accepted and answered.
        for sock in waiting:
            sock.sendall(b"GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert sock.recv(64).startswith(b"HTTP/1.1 200 OK\r\n")
    finally:
        for fd in filler:
            os.close(fd)
        for sock in waiting:
            sock.close()


def test_slow_readers_of_large_files_hold_no_worker(tmp_path: Path) -> None:
    big = os.urandom(1 << 20) * 8
    with GobblerService(binary=GOBBLER_BINARY) as service:
        (Path(service.registry) / "big.bin").write_bytes(big)
        readers = [socket.create_connection(("127.0.0.1", service.port), timeout=10) for _ in range(40)]
        try:
            for sock in readers:
                sock.sendall(b"GET /fetch/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            time.sleep(0.5)  # every answer has filled its socket's buffers by now; nobody reads
            status, seconds = _info(service.port)
            assert (status, seconds < 1.0) == (200, True), f"/info took {seconds:.2f} s"
            # The rest of each answer goes out once its reader reads.
            for sock in readers[:3]:
                received = bytearray()
                while chunk := sock.recv(1 << 20):
                    received += chunk
                head, _, body = bytes(received).partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200 OK\r\n")
                assert f"Content-Length: {len(big)}".encode() in head
                assert body == big
        finally:
            for sock in readers:
                sock.close()


# ------------------------------------------------------------------------------ reader processes


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        return [int(child) for child in handle.read().split()]


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                if handle.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    return True  # exited, waiting for its parent to reap it
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.embedded_only
def test_reads_and_actions_are_served_by_different_processes() -> None:
    with GobblerService() as service:
        assert service.process is not None
        readers = _children(service.process.pid)
        assert len(readers) == min(os.cpu_count() or 1, 4)
        # Pipelined on one connection: the action goes to the main process, the read after it to a reader.
        name = f"request-health_check-{os.getpid()}-{time.monotonic_ns()}"
        (Path(service.staging) / name).write_text("")
        with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
            sock.sendall(
                f"GET /info HTTP/1.1\r\nHost: x\r\n\r\nPOST /new/{name} HTTP/1.1\r\nHost: x\r\n\r\n"
                "GET /info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
            )
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        assert received.count(b"HTTP/1.1 200 OK\r\n") == 3
        assert received.count(b'{"status":"SUCCESS"}') == 1
        assert received.count(b'"registry":') == 2


@pytest.mark.embedded_only
def test_the_main_process_serves_again_when_its_readers_are_gone() -> None:
    with GobblerService() as service:
        assert service.process is not None
        for reader in _children(service.process.pid):
            os.kill(reader, 9)
            assert _gone(reader, 5)
        time.sleep(0.2)
        status, seconds = _info(service.port)
        assert (status, seconds < 1.0) == (200, True)


@pytest.mark.embedded_only
def test_readers_exit_with_the_main_process() -> None:
    with GobblerService() as service:
        assert service.process is not None
        readers = _children(service.process.pid)
        assert readers
        service.process.kill()  # the main process alone, without a chance to clean up
        service.process.wait()
        assert all(_gone(reader, 5) for reader in readers)


@pytest.mark.embedded_only
def test_a_fifo_in_the_registry_is_refused_without_blocking() -> None:
    # The reference blocks in open() until a writer appears; the embedded service must not stall a
    # thread (the one serving reads) on it.
    with GobblerService() as service:
        os.mkfifo(Path(service.registry) / "pipe")
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", service.port), timeout=5) as sock:
            sock.sendall(b"GET /fetch/pipe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        assert received.startswith(b"HTTP/1.1 403 Forbidden\r\n")
        assert received.endswith(b"\r\n\r\n403 Forbidden\n")
        assert time.monotonic() - started < 2
        assert _info(service.port)[0] == 200


def test_requests_waiting_for_their_bodies_hold_up_no_one() -> None:
    with GobblerService(binary=GOBBLER_BINARY) as service:
        waiting = [socket.create_connection(("127.0.0.1", service.port), timeout=5) for _ in range(40)]
        try:
            for sock in waiting:
                sock.sendall(b"GET /info HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")  # no body
            time.sleep(0.3)
            status, seconds = _info(service.port)
            assert (status, seconds < 1.0) == (200, True), f"/info took {seconds:.2f} s"
            waiting[0].sendall(b"0123456789")  # the body at last: the request is answered
            assert waiting[0].recv(64).startswith(b"HTTP/1.1 200 OK\r\n")
        finally:
            for sock in waiting:
                sock.close()


def test_actions_waiting_for_their_bodies_hold_up_no_action(tmp_path: Path) -> None:
    with GobblerService(binary=GOBBLER_BINARY) as service:
        waiting = [socket.create_connection(("127.0.0.1", service.port), timeout=5) for _ in range(80)]
        try:
            for sock in waiting:
                sock.sendall(b"POST /new/request-x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
            time.sleep(0.3)
            name = f"request-health_check-{os.getpid()}-{time.monotonic_ns()}"
            (Path(service.staging) / name).write_text("")
            started = time.monotonic()
            connection = http.client.HTTPConnection("127.0.0.1", service.port, timeout=5)
            connection.request("POST", f"/new/{name}")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b'{"status":"SUCCESS"}')
            connection.close()
            assert time.monotonic() - started < 1.0
        finally:
            for sock in waiting:
                sock.close()


@pytest.mark.embedded_only
def test_idle_connections_and_unfinished_headers_time_out(
    in_process: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gobbler_sdk.server import _serving

    # 120 s and 30 s in service; shortened here (read when each connection's deadline is set).
    monkeypatch.setattr(_serving, "IDLE_TIMEOUT", 0.5)
    monkeypatch.setattr(_serving, "HEADER_TIMEOUT", 0.5)
    idle = socket.create_connection(("127.0.0.1", in_process.port), timeout=5)
    partial = socket.create_connection(("127.0.0.1", in_process.port), timeout=5)
    served = socket.create_connection(("127.0.0.1", in_process.port), timeout=5)
    try:
        partial.sendall(b"GET /info HTTP/1.1\r\nHost: x\r\n")
        served.sendall(b"GET /info HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b'"}'):
            answer += served.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")  # and now idle on a kept-alive connection
        started = time.monotonic()
        for sock in (idle, partial, served):
            assert sock.recv(65536) == b""  # closed by the service
        assert time.monotonic() - started < 4
    finally:
        for sock in (idle, partial, served):
            sock.close()


def test_a_worker_finishing_after_the_poller_closed_drops_its_connection_quietly() -> None:
    # At shutdown the loop closes its poller while a worker may still be finishing a request; re-arming
    # the worker's connection then must be an OSError the worker expects, not the closed epoll's
    # ValueError, which killed the worker thread with a traceback.
    from gobbler_sdk.server._serving import _Poller

    poller = _Poller()
    left, right = socket.socketpair()
    try:
        poller.arm(left.fileno(), from_loop=False)
        poller.close()
        with pytest.raises(OSError):
            poller.arm(left.fileno(), writable=True, from_loop=False)
        poller.forget(left.fileno())  # no error either
    finally:
        left.close()
        right.close()
