"""Directory locks (PROTOCOL.md 13, 17.9).

Unit tests of :class:`LockManager` (embedded only: they exercise our implementation directly), then
protocol-level tests that hold a ``flock`` from outside the service, which works the same against the
reference binary since both use advisory ``flock`` on the same lock files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from gobbler_sdk.server.errors import RequestError
from gobbler_sdk.server.locks import LOCK, LOCK_NEWDIR, LOCK_USAGE, LockManager

from .harness import Gobbler, Reply, unique

_HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o666)
fcntl.flock(fd, fcntl.LOCK_EX if sys.argv[2] == "ex" else fcntl.LOCK_SH)
print("locked", flush=True)
sys.stdin.readline()
"""


@contextlib.contextmanager
def _held_by_another_process(path: Path, kind: str = "ex") -> Iterator[Callable[[], None]]:
    """Hold a flock on ``path`` from a child process; yields a function that releases it early."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path), kind],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    assert process.stdout.readline().strip() == "locked"

    def release() -> None:
        if process.poll() is None:
            assert process.stdin is not None
            process.stdin.write("\n")
            process.stdin.flush()
            process.wait(10)

    try:
        yield release
    finally:
        release()
        process.stdin.close()
        process.stdout.close()


def _try_flock(path: Path, kind: int) -> bool:
    """Whether a fresh open file description can take the lock right now."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def _in_thread(function: Callable[[], object]) -> Future[object]:
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(function)
    pool.shutdown(wait=False)
    return future


def _hold_briefly(locks: LockManager, directory: Path, *, exclusive: bool, name: str = LOCK) -> float:
    """Acquire and release; return how long acquiring took."""
    start = time.monotonic()
    with locks.hold(str(directory), exclusive=exclusive, name=name):
        return time.monotonic() - start


# ------------------------------------------------------------------------------ LockManager


@pytest.mark.embedded_only
def test_shared_is_shared_between_threads(tmp_path: Path) -> None:
    locks = LockManager(timeout=2)
    with locks.hold(str(tmp_path), exclusive=False):
        waited = _in_thread(lambda: _hold_briefly(locks, tmp_path, exclusive=False)).result(5)
    assert isinstance(waited, float) and waited < 0.5


@pytest.mark.embedded_only
def test_shared_is_reentrant_in_one_thread(tmp_path: Path) -> None:
    locks = LockManager(timeout=0.5)
    with locks.hold(str(tmp_path), exclusive=False), locks.hold(str(tmp_path), exclusive=False):
        pass
    # Fully released: an exclusive lock is free again.
    assert _hold_briefly(locks, tmp_path, exclusive=True) < 0.3


@pytest.mark.embedded_only
@pytest.mark.parametrize(("first", "second"), [(True, False), (True, True), (False, True)])
def test_conflicting_requests_time_out(tmp_path: Path, first: bool, second: bool) -> None:
    locks = LockManager(timeout=0.3)
    with locks.hold(str(tmp_path), exclusive=first):
        future = _in_thread(lambda: _hold_briefly(locks, tmp_path, exclusive=second))
        with pytest.raises(RequestError) as caught:
            future.result(5)
    assert caught.value.status == 500
    assert "timed out waiting for the lock to be acquired on" in caught.value.reason
    assert str(tmp_path / LOCK) in caught.value.reason


@pytest.mark.embedded_only
def test_exclusive_is_not_reentrant(tmp_path: Path) -> None:
    locks = LockManager(timeout=0.3)
    with locks.hold(str(tmp_path), exclusive=True), pytest.raises(RequestError):  # noqa: SIM117
        with locks.hold(str(tmp_path), exclusive=True):
            pass


@pytest.mark.embedded_only
def test_waiter_proceeds_after_release(tmp_path: Path) -> None:
    locks = LockManager(timeout=5)
    with locks.hold(str(tmp_path), exclusive=True):
        future = _in_thread(lambda: _hold_briefly(locks, tmp_path, exclusive=True))
        time.sleep(0.3)
        assert not future.done()
    waited = future.result(5)
    assert isinstance(waited, float) and waited >= 0.25


@pytest.mark.embedded_only
def test_shared_count_must_drop_to_zero(tmp_path: Path) -> None:
    locks = LockManager(timeout=5)
    first_release = threading.Event()
    second_release = threading.Event()
    both_holding = threading.Barrier(3)

    def holder(release: threading.Event) -> None:
        with locks.hold(str(tmp_path), exclusive=False):
            both_holding.wait(5)
            release.wait(5)

    threads = [threading.Thread(target=holder, args=(e,)) for e in (first_release, second_release)]
    for thread in threads:
        thread.start()
    both_holding.wait(5)
    writer = _in_thread(lambda: _hold_briefly(locks, tmp_path, exclusive=True))
    first_release.set()
    time.sleep(0.2)
    assert not writer.done()
    assert not _try_flock(tmp_path / LOCK, fcntl.LOCK_EX)
    second_release.set()
    writer.result(5)
    for thread in threads:
        thread.join(5)


@pytest.mark.embedded_only
def test_lock_names_and_directories_are_independent(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    locks = LockManager(timeout=0.3)
    with locks.hold(str(tmp_path), exclusive=True):
        for name in (LOCK_NEWDIR, LOCK_USAGE):
            assert _hold_briefly(locks, tmp_path, exclusive=True, name=name) < 0.2
        assert _hold_briefly(locks, other, exclusive=True) < 0.2


@pytest.mark.embedded_only
def test_lock_files_are_created_and_kept(tmp_path: Path) -> None:
    locks = LockManager(timeout=1)
    with locks.hold(str(tmp_path), exclusive=False, name=LOCK_NEWDIR):
        assert (tmp_path / LOCK_NEWDIR).is_file()
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / LOCK_NEWDIR).stat().st_mode) == 0o666 & ~umask
    assert (tmp_path / LOCK_NEWDIR).read_bytes() == b""


@pytest.mark.embedded_only
def test_missing_directory_is_a_500(tmp_path: Path) -> None:
    locks = LockManager(timeout=1)
    with pytest.raises(RequestError) as caught, locks.hold(str(tmp_path / "missing"), exclusive=True):
        pass
    assert caught.value.status == 500
    # A failed attempt leaves nothing held behind.
    assert _hold_briefly(locks, tmp_path, exclusive=True) < 0.3


@pytest.mark.embedded_only
def test_flock_of_another_process_blocks_us(tmp_path: Path) -> None:
    locks = LockManager(timeout=0.3)
    with _held_by_another_process(tmp_path / LOCK, "ex") as release:
        with pytest.raises(RequestError):
            _hold_briefly(locks, tmp_path, exclusive=False)
        slow = LockManager(timeout=5)
        future = _in_thread(lambda: _hold_briefly(slow, tmp_path, exclusive=True))
        time.sleep(0.2)
        assert not future.done()
        release()
        assert future.result(5) is not None


@pytest.mark.embedded_only
def test_shared_flock_of_another_process_allows_shared(tmp_path: Path) -> None:
    locks = LockManager(timeout=0.3)
    with _held_by_another_process(tmp_path / LOCK, "sh"):
        assert _hold_briefly(locks, tmp_path, exclusive=False) < 0.2
        with pytest.raises(RequestError):
            _hold_briefly(locks, tmp_path, exclusive=True)


@pytest.mark.embedded_only
def test_our_locks_are_visible_to_other_processes(tmp_path: Path) -> None:
    locks = LockManager(timeout=1)
    with locks.hold(str(tmp_path), exclusive=False):
        assert _try_flock(tmp_path / LOCK, fcntl.LOCK_SH)
        assert not _try_flock(tmp_path / LOCK, fcntl.LOCK_EX)
    with locks.hold(str(tmp_path), exclusive=True):
        assert not _try_flock(tmp_path / LOCK, fcntl.LOCK_SH)
    assert _try_flock(tmp_path / LOCK, fcntl.LOCK_EX)


# ------------------------------------------------------------------------------ the service


@contextlib.contextmanager
def _flock(path: Path, kind: int) -> Iterator[None]:
    """Hold a flock from the test process, which is another process as far as the service is concerned."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, kind)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@pytest.fixture
def lonely(start_gobbler_variant: Callable[..., Gobbler]) -> Gobbler:
    """A service of our own, so that holding its registry lock delays nobody else's tests."""
    return start_gobbler_variant()


@pytest.mark.parametrize("kind", [fcntl.LOCK_EX, fcntl.LOCK_SH], ids=["exclusive", "shared"])
def test_registry_lock_held_elsewhere_blocks_create_project(lonely: Gobbler, kind: int) -> None:
    name = unique()
    with _flock(lonely.registry / LOCK, kind):
        pending = _in_thread(lambda: lonely.request("create_project", {"project": name}))
        time.sleep(0.5)
        assert not pending.done()
        assert not (lonely.registry / name).exists()
        # Requests that take no lock are unaffected.
        assert lonely.request("health_check", {}).status == 200
        assert lonely.list().status == 200
        assert lonely.http.get("/fetch/..logs/").status_code == 200
    reply = pending.result(10)
    assert isinstance(reply, Reply)
    assert reply.status == 200, reply
    assert (lonely.registry / name / "..permissions").is_file()


def test_shared_registry_lock_elsewhere_does_not_block_shared_users(lonely: Gobbler) -> None:
    project = lonely.create_project()
    with _flock(lonely.registry / LOCK, fcntl.LOCK_SH):
        reply = _in_thread(lambda: lonely.request("refresh_usage", {"project": project})).result(5)
    assert isinstance(reply, Reply)
    assert (reply.status, reply.body) == (200, {"status": "SUCCESS", "total": 0})


def test_service_holds_the_registry_lock_only_while_working(lonely: Gobbler) -> None:
    lonely.create_project()
    # The lock file now exists and is free again.
    assert (lonely.registry / LOCK).is_file()
    assert _try_flock(lonely.registry / LOCK, fcntl.LOCK_EX)


@pytest.mark.embedded_only
def test_a_lock_in_a_regular_file_times_out_at_once(tmp_path: Path) -> None:
    # The reference's existence checks are stat's, so a regular file in a project's or asset's place
    # reaches its lock, whose file cannot be created; it answers when its wait times out (60 s there).
    # Ours gives the same answer without the wait (docs/service.md, "Known differences").
    not_a_directory = tmp_path / "asset"
    not_a_directory.write_text("x")
    locks = LockManager(timeout=30)
    started = time.monotonic()
    with pytest.raises(RequestError) as caught, locks.hold(str(not_a_directory), exclusive=True):
        pass
    assert time.monotonic() - started < 5
    assert (caught.value.status, caught.value.reason) == (
        500,
        f'timed out waiting for the lock to be acquired on "{not_a_directory / LOCK}"',
    )
