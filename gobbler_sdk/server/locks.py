"""Directory locks shared with the reference service.

Each lock is an advisory ``flock`` on a file inside the registry (``..LOCK``, ``..LOCK_NEWDIR``,
``..LOCK_USAGE``), so several service instances, embedded or reference, can safely share one registry.
Inside one process a table of held locks adds what ``flock`` alone cannot express between threads: a path
held exclusively cannot be taken again, while a path held shared may be shared again (reference-counted).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import RequestError
from .goerrors import go_quote

__all__ = ["LOCK", "LOCK_NEWDIR", "LOCK_USAGE", "LockManager"]

LOCK = "..LOCK"
LOCK_NEWDIR = "..LOCK_NEWDIR"
LOCK_USAGE = "..LOCK_USAGE"

_POLL_SECONDS = 0.05


@dataclass
class _Held:
    exclusive: bool
    count: int
    fd: int


class LockManager:
    """Acquires and releases lock files for one service process.

    Args:
        timeout: Seconds to wait for a lock before failing with a 500.
    """

    def __init__(self, timeout: float = 60.0) -> None:
        self._timeout = timeout
        self._held: dict[str, _Held] = {}
        self._pending: set[str] = set()
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, directory: str, *, exclusive: bool, name: str = LOCK) -> Iterator[None]:
        """Hold the lock file ``name`` inside ``directory`` for the duration of the block.

        Args:
            directory: Directory whose lock file is used.
            exclusive: Exclusive (``LOCK_EX``) or shared (``LOCK_SH``).
            name: ``LOCK``, ``LOCK_NEWDIR`` or ``LOCK_USAGE``.

        Raises:
            RequestError: 500 when the lock cannot be had within the time-out.
        """
        path = os.path.join(directory, name)
        self._acquire(path, exclusive)
        try:
            yield
        finally:
            self._release(path)

    def _acquire(self, path: str, exclusive: bool) -> None:
        deadline = time.monotonic() + self._timeout
        with self._cond:
            while True:
                held = self._held.get(path)
                if held is None and path not in self._pending:
                    self._pending.add(path)
                    break
                if held is not None and not held.exclusive and not exclusive:
                    held.count += 1
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _timed_out(path)
                self._cond.wait(remaining)

        fd = -1
        try:
            fd = _open_lock_file(path)
            kind = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
            while True:
                try:
                    fcntl.flock(fd, kind | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise _timed_out(path) from None
                    time.sleep(_POLL_SECONDS)
        except BaseException as exc:
            if fd >= 0:
                os.close(fd)
            with self._cond:
                self._pending.discard(path)
                self._cond.notify_all()
            if isinstance(exc, OSError):
                raise RequestError(500, f"failed to open the lock file at {path!r}; {exc}") from exc
            raise
        with self._cond:
            self._pending.discard(path)
            self._held[path] = _Held(exclusive, 1, fd)
            self._cond.notify_all()

    def _release(self, path: str) -> None:
        with self._cond:
            held = self._held[path]
            held.count -= 1
            if held.count == 0:
                del self._held[path]
                fcntl.flock(held.fd, fcntl.LOCK_UN)
                os.close(held.fd)
                self._cond.notify_all()


def _open_lock_file(path: str) -> int:
    """Open (creating) a lock file; one whose directory is a regular file answers as a lock time-out.

    The reference checks that a project or asset exists with ``stat``, so a regular file in its place
    gets this far, and its wait for the lock times out. The embedded service gives the same answer at
    once: nothing it could wait for would turn the file into a directory.
    """
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except NotADirectoryError:
        raise _timed_out(path) from None


def _timed_out(path: str) -> RequestError:
    return RequestError(500, f"timed out waiting for the lock to be acquired on {go_quote(path)}")
