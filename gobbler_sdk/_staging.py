"""Preparing an upload: directories inside staging go as they are, others are copied in first.

The copy keeps nested and empty directories and symlinks (relative links that stay inside the tree stay
relative, so they become links between files of the new version; links that point elsewhere are made
absolute, so links into the registry still reach their target). Each file is copied by the kernel where it
can (``copy_file_range``, else ``sendfile``, else plain reads and writes) and checked by size: the bytes
copied must add up to the size the scan of the source found. Copies are not re-hashed: that would read
every byte twice more, the largest cost of an upload, to second-guess the kernel's own copy — the same
trust ``cp`` gets. The service hashes the staged bytes it stores, so the manifest always describes what is
in the registry.

Large files are copied on up to ``concurrency`` threads, since the kernel copies them without holding the
interpreter lock. Small files are copied on the calling thread while each takes a few microseconds, where
threads would only add contention for that lock; if they turn out to take longer (waiting on a network or
synchronous file system, or simply many bytes each), the rest are spread over the threads in runs of
neighbouring files.
"""

from __future__ import annotations

import math
import os
import posixpath
import secrets
import stat
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ._progress import ProgressCallback, Tracker
from .errors import ConfigurationError, IntegrityError, InvalidRequestError

__all__ = ["allocate_directory", "is_direct_child", "stage_copy"]

#: Files from this size on are copied each on a thread of its own; smaller ones are copied in runs.
_LARGE_FILE = 1 << 20
#: Small files copied (and timed) at a time on the calling thread.
_PROBE_FILES = 64
#: Average time per small file above which threads pay off (measured: local copies of 1-4 KiB take ~10 µs).
_SLOW_FILE_SECONDS = 100e-6
#: Bytes asked of the kernel per copy call: large enough to be few calls, small enough to stay interruptible.
_KERNEL_CHUNK = 64 << 20
#: Buffer of the plain read/write copy.
_READ_CHUNK = 1 << 20

#: Copies the next chunk from one descriptor's position to the other's; returns the bytes copied (0 at end).
_Step = Callable[[int, int], int]
_FileItem = tuple[str, int]


def allocate_directory(staging: Path, *, prefix: str = "upload-", create: bool = True) -> Path:
    """Reserve a fresh directory name directly inside staging.

    The directory is created with mode ``0777`` minus the umask, so the service account can read it and,
    with ``consume``, move files out of it.

    Args:
        staging: The staging directory.
        prefix: Start of the directory name.
        create: Create the directory (otherwise only a free name is returned).

    Raises:
        ConfigurationError: When the directory cannot be created in staging.
    """
    while True:
        path = staging / f"{prefix}{secrets.token_hex(8)}"
        if create:
            try:
                path.mkdir(mode=0o777)
            except FileExistsError:
                continue
            except OSError as exc:
                raise ConfigurationError(f"cannot create a directory in staging {staging}: {exc}") from exc
            return path
        if not os.path.lexists(path):
            return path


def is_direct_child(directory: Path, staging: Path) -> bool:
    """Whether ``directory`` is a real (non-symlink) directory directly inside ``staging``."""
    if directory.is_symlink() or not directory.is_dir():
        return False
    return os.path.realpath(directory.parent) == os.path.realpath(staging)


@dataclass
class _Plan:
    directories: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)
    files: list[_FileItem] = field(default_factory=list)


def _skip(name: str, ignore_dot: bool) -> bool:
    # ".." names are never uploaded by the service, and dotfiles are not when ignore_dot is set.
    return name.startswith("..") or (ignore_dot and name.startswith("."))


def _plan(source: Path, ignore_dot: bool) -> _Plan:
    plan = _Plan()
    pending = [""]
    while pending:
        relative = pending.pop()
        with os.scandir(source / relative if relative else source) as scan:
            for entry in scan:
                if _skip(entry.name, ignore_dot):
                    continue
                path = f"{relative}/{entry.name}" if relative else entry.name
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    plan.directories.append(path)
                    pending.append(path)
                elif stat.S_ISLNK(info.st_mode):
                    plan.links.append((path, _link_text(source, path, os.readlink(entry.path))))
                elif stat.S_ISREG(info.st_mode):
                    plan.files.append((path, info.st_size))
                else:
                    raise InvalidRequestError(
                        f"cannot upload {source / path}: not a file, directory or symlink"
                    )
    return plan


def _link_text(source: Path, path: str, text: str) -> str:
    """Make links inside the tree relative and every other link absolute.

    The service judges link targets lexically against the staged copy, so an absolute link into the
    original tree would point outside it (and be refused) unless it is made relative here.
    """
    if os.path.isabs(text):
        root = os.path.normpath(os.path.abspath(source))
        target = os.path.normpath(text)
        if target.startswith(root + os.sep):
            return os.path.relpath(target, os.path.join(root, os.path.dirname(path)))
        return text
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), text))
    if joined == ".." or joined.startswith("../"):
        return os.path.normpath(os.path.join(os.path.abspath(source), os.path.dirname(path), text))
    return text


def stage_copy(
    source: Path,
    destination: Path,
    *,
    ignore_dot: bool,
    concurrency: int,
    progress: bool | ProgressCallback | None = None,
) -> None:
    """Copy ``source`` into the (existing, empty) staging directory ``destination``.

    Raises:
        InvalidRequestError: For special files (FIFOs, devices, sockets) that cannot be uploaded.
        IntegrityError: When a copy's size differs from its source's size at the time of the scan.
        OSError: When a copy fails.
    """
    plan = _plan(source, ignore_dot)
    for directory in sorted(plan.directories):
        (destination / directory).mkdir(mode=0o777, exist_ok=True)
    for path, text in plan.links:
        os.symlink(text, destination / path)

    tracker = Tracker(progress, "copy", len(plan.files), sum(size for _, size in plan.files))
    copier = _Copier()
    source_root, destination_root = os.fspath(source), os.fspath(destination)

    def copy_files(files: list[_FileItem]) -> None:
        for path, size in files:
            _copy_checked(copier, f"{source_root}/{path}", f"{destination_root}/{path}", size)
            tracker.advance(path, size)

    if concurrency <= 1:
        copy_files(plan.files)
        return
    small = [item for item in plan.files if item[1] < _LARGE_FILE]
    large = [item for item in plan.files if item[1] >= _LARGE_FILE]
    # Threads are started only as work is handed out, so a tree of quick small files starts none.
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="gobbler-copy") as pool:
        pending = [pool.submit(copy_files, [item]) for item in large]
        try:
            pending += _copy_small_files(small, copy_files, pool, concurrency)
            for future in pending:
                future.result()
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


def _copy_small_files(
    files: list[_FileItem],
    copy_files: Callable[[list[_FileItem]], None],
    pool: ThreadPoolExecutor,
    concurrency: int,
) -> list[Future[None]]:
    """Copy small files on this thread while they are quick; spread the rest over the pool once they are not.

    A local copy of a small file is a few microseconds of system calls, which more threads only slow down
    (they take turns holding the interpreter lock). On a network or synchronous file system each file
    waits for the server or the disk instead, and several copies at once hide that wait; the same holds
    for files of a few hundred KiB, whose copy the kernel does without the lock. Returns the copies
    handed to the pool.
    """
    for start in range(0, len(files), _PROBE_FILES):
        probe = files[start : start + _PROBE_FILES]
        began = time.perf_counter()
        copy_files(probe)
        if (time.perf_counter() - began) / len(probe) > _SLOW_FILE_SECONDS:
            return [pool.submit(copy_files, run) for run in _runs(files[start + len(probe) :], concurrency)]
    return []


def _runs(files: list[_FileItem], count: int) -> list[list[_FileItem]]:
    """Cut ``files`` into at most ``count`` runs of neighbours (files of one directory stay together)."""
    count = max(1, min(count, len(files)))
    length = max(1, math.ceil(len(files) / count))
    return [files[start : start + length] for start in range(0, len(files), length)]


def _copy_checked(copier: _Copier, source: str, target: str, size: int) -> None:
    """Copy one file and check that exactly ``size`` bytes, the size seen by the scan, were copied."""
    copied = copier.copy(source, target)
    if copied != size:
        raise IntegrityError(f"copy of {source} has {copied} bytes instead of {size}")


class _Copier:
    """Copies files with the best method the file systems accept, dropping methods they refuse.

    ``copy_file_range`` keeps the bytes in the kernel and lets file systems share blocks or copy on the
    server; ``sendfile`` also keeps them in the kernel, across any pair of file systems; plain reads and
    writes work everywhere. A method that fails before copying anything is given up for the rest of the
    tree, so a tree crossing file systems pays for one refusal, not one per file.
    """

    def __init__(self) -> None:
        self._steps: tuple[_Step, ...] = _AVAILABLE_STEPS
        self._lock = threading.Lock()

    def copy(self, source: str, target: str) -> int:
        """Copy ``source`` to the new file ``target`` (mode 0666 minus the umask); return bytes copied."""
        source_fd = os.open(source, os.O_RDONLY)
        try:
            target_fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                return self._copy_descriptors(source_fd, target_fd)
            finally:
                os.close(target_fd)
        finally:
            os.close(source_fd)

    def _copy_descriptors(self, source_fd: int, target_fd: int) -> int:
        *fast, last = self._steps
        for step in fast:
            try:
                first = step(source_fd, target_fd)
            except OSError:
                # A failed call copies nothing, so the next method starts from the same positions.
                self._give_up(step)
                continue
            if first > 0:
                return first + _copy_rest(step, source_fd, target_fd)
            if os.fstat(source_fd).st_size == 0:
                return 0
            # Some file systems report an empty file instead of refusing the copy.
            self._give_up(step)
        return _copy_rest(last, source_fd, target_fd)

    def _give_up(self, step: _Step) -> None:
        with self._lock:
            self._steps = tuple(kept for kept in self._steps if kept is not step)


def _copy_rest(step: _Step, source_fd: int, target_fd: int) -> int:
    copied = 0
    while chunk := step(source_fd, target_fd):
        copied += chunk
    return copied


def _copy_file_range_step(source_fd: int, target_fd: int) -> int:
    return os.copy_file_range(source_fd, target_fd, _KERNEL_CHUNK)


def _sendfile_step(source_fd: int, target_fd: int) -> int:
    return os.sendfile(target_fd, source_fd, None, _KERNEL_CHUNK)


def _read_write_step(source_fd: int, target_fd: int) -> int:
    data = memoryview(os.read(source_fd, _READ_CHUNK))
    written = 0
    while written < len(data):
        written += os.write(target_fd, data[written:])
    return written


def _available_steps() -> tuple[_Step, ...]:
    steps: list[_Step] = []
    # Both calls take the current file positions (offset None) only on Linux.
    if sys.platform.startswith("linux"):
        if hasattr(os, "copy_file_range"):
            steps.append(_copy_file_range_step)
        steps.append(_sendfile_step)
    steps.append(_read_write_step)
    return tuple(steps)


_AVAILABLE_STEPS = _available_steps()
