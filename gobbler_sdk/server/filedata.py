"""Reading, hashing, copying and moving the bytes of user files (PROTOCOL.md 8.2 and 8.8).

These functions run on the service's worker pool, several files per task, so that a tree of many small
files does not pay one pool round trip per file. Small files are read in one call; large ones stream
through a reusable 1 MiB buffer per thread. A copy is always hashed again and compared with the first
pass: small copies by hashing the bytes as they are written, large ones by re-reading the copy in a second
thread while the kernel copies the next piece.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import RequestError

__all__ = ["CHUNK", "Copy", "copy_batch", "describe_os_error", "hash_batch", "md5_file"]

CHUNK = 1 << 20

_buffers = threading.local()


def describe_os_error(exc: OSError) -> str:
    """Render an OS error the way Go prints it (``op path: lower-case message``)."""
    message = exc.strerror or str(exc)
    if message[:1].isupper() and not message[1:2].isupper():
        message = message[:1].lower() + message[1:]
    if exc.filename is not None:
        return f"{os.fsdecode(exc.filename)}: {message}"
    return message


def _buffer() -> memoryview:
    view: memoryview | None = getattr(_buffers, "view", None)
    if view is None:
        view = memoryview(bytearray(CHUNK))
        _buffers.view = view
    return view


def _hash_fd(fd: int, size_hint: int) -> str:
    digest = hashlib.md5()
    if size_hint < CHUNK:
        # One read usually returns everything; loop in case the file grew since it was listed.
        while True:
            data = os.read(fd, CHUNK)
            if not data:
                break
            digest.update(data)
        return digest.hexdigest()
    view = _buffer()
    with open(fd, "rb", buffering=0, closefd=False) as handle:
        while True:
            count = handle.readinto(view)
            if not count:
                break
            digest.update(view[:count])
    return digest.hexdigest()


def md5_file(path: str, size_hint: int = CHUNK) -> str:
    """MD5 (lower-case hex) of the file at ``path``, following symlinks.

    Raises:
        OSError: When the file cannot be read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return _hash_fd(fd, size_hint)
    finally:
        os.close(fd)


def hash_batch(files: Sequence[tuple[str, int]]) -> list[str]:
    """MD5 of each ``(path, size)`` in order.

    Raises:
        RequestError: 500 naming the first file that cannot be read.
    """
    out = []
    for path, size in files:
        try:
            out.append(md5_file(path, size))
        except OSError as exc:
            raise RequestError(500, f"failed to compute the MD5 checksum; {describe_os_error(exc)}") from exc
    return out


@dataclass(frozen=True)
class Copy:
    """One file to bring into the registry.

    Attributes:
        rel: Path relative to the version directory (for messages).
        source: Path of the source file.
        destination: Path of the new registry file.
        size: Size seen by the first pass.
        md5sum: MD5 computed by the first pass.
        consume: Whether the source may be moved or deleted afterwards.
    """

    rel: str
    source: str
    destination: str
    size: int
    md5sum: str
    consume: bool


_PIPELINE_STEP = 8 << 20


def _copy_small(fd_in: int, fd_out: int) -> str:
    """Copy a small file through memory; the MD5 is that of the bytes written to the copy."""
    digest = hashlib.md5()
    while True:
        data = os.read(fd_in, CHUNK)
        if not data:
            break
        digest.update(data)
        view = memoryview(data)
        while view:
            view = view[os.write(fd_out, view) :]
    return digest.hexdigest()


def _copy_range(fd_in: int, fd_out: int, count: int, fallback: list[bool]) -> int:
    """Copy up to ``count`` bytes at the current offsets; the kernel does it unless it cannot."""
    if not fallback[0]:
        try:
            return os.copy_file_range(fd_in, fd_out, count)
        except OSError:
            fallback[0] = True
    data = os.read(fd_in, count)
    view = memoryview(data)
    while view:
        view = view[os.write(fd_out, view) :]
    return len(data)


def _copy_large(fd_in: int, fd_out: int) -> str:
    """Copy a large file while a second thread re-reads and hashes each finished piece of the copy.

    The copy and its MD5 then take about as long as the slower of the two instead of their sum.
    ``fd_out`` must be open for reading too.
    """
    digest = hashlib.md5()
    pieces: queue.Queue[tuple[int, int] | None] = queue.Queue(maxsize=4)
    failure: list[BaseException] = []

    def rehash() -> None:
        while True:
            piece = pieces.get()
            if piece is None:
                return
            if failure:
                continue
            offset, length = piece
            try:
                while length:
                    data = os.pread(fd_out, min(length, CHUNK * 4), offset)
                    if not data:
                        raise OSError(errno.EIO, "the copy is shorter than what was written")
                    digest.update(data)
                    offset += len(data)
                    length -= len(data)
            except BaseException as exc:
                failure.append(exc)

    hasher = threading.Thread(target=rehash, name="gobbler-rehash", daemon=True)
    hasher.start()
    fallback = [False]
    try:
        offset = 0
        while True:
            count = _copy_range(fd_in, fd_out, _PIPELINE_STEP, fallback)
            if not count:
                break
            pieces.put((offset, count))
            offset += count
    finally:
        pieces.put(None)
        hasher.join()
    if failure:
        raise failure[0]
    return digest.hexdigest()


def _copy_verified(job: Copy) -> None:
    fd_in = os.open(job.source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fd_out = os.open(job.destination, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            copied = _copy_small(fd_in, fd_out) if job.size < CHUNK else _copy_large(fd_in, fd_out)
        finally:
            os.close(fd_out)
    finally:
        os.close(fd_in)
    if copied != job.md5sum:
        raise RequestError(500, f'mismatch in checksums between source and destination files for "{job.rel}"')


def _move(job: Copy) -> bool:
    """Move a source file the service owns into place; ``False`` when the caller must copy instead."""
    try:
        if os.lstat(job.source).st_uid != os.geteuid():
            return False
        os.chmod(job.source, 0o644)
        os.rename(job.source, job.destination)
    except OSError:
        return False
    return True


def copy_batch(jobs: Sequence[Copy]) -> None:
    """Bring each file into the registry: move it (``consume`` and owned by us) or copy and verify it.

    Raises:
        RequestError: 500 on the first failure (unreadable source, write error, checksum mismatch).
    """
    for job in jobs:
        if job.consume and _move(job):
            continue
        try:
            _copy_verified(job)
        except OSError as exc:
            raise RequestError(
                500, f'failed to copy "{job.rel}" into the registry; {describe_os_error(exc)}'
            ) from exc
        if job.consume:
            with contextlib.suppress(OSError):
                os.unlink(job.source)
