"""Reading, hashing, copying and moving the bytes of user files, as the reference service does.

These functions run on the service's worker pool, several files per task, so that a tree of many small
files does not pay one pool round trip per file. Small files are read in one call and written from
memory; large ones stream through a reusable 1 MiB buffer per thread, and their copy is re-read in a
second thread while the kernel copies the next piece and must hash the same as the first pass.

Every user-controlled file is opened by :func:`open_regular` (no symlink followed, no blocking on a FIFO,
``fstat`` checked against the inode the walk listed) and hashed and copied from that one descriptor, and
every read is bounded by the listed size: a neighbour who swaps, resizes or replaces a file in its
staging directory makes the upload fail instead of leaking a file or holding a lock.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import queue
import stat
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .errors import RequestError
from .goerrors import os_error_text

__all__ = [
    "CHUNK",
    "ChangedEntry",
    "Identity",
    "NotRegularFile",
    "Placement",
    "Source",
    "UnsafeEntry",
    "describe_os_error",
    "file_kind",
    "hash_batch",
    "md5_file",
    "open_directory",
    "open_regular",
    "place_batch",
    "read_regular",
    "require_regular",
]

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


# ---------------------------------------------------------------------- opening user files safely


@dataclass(frozen=True)
class Identity:
    """Which inode a path named when it was listed (``st_dev``, ``st_ino``).

    Attributes:
        device: ``st_dev``.
        inode: ``st_ino``.
    """

    device: int
    inode: int

    @classmethod
    def of(cls, info: os.stat_result) -> Identity:
        """The identity recorded in a ``stat`` result."""
        return cls(info.st_dev, info.st_ino)

    def matches(self, info: os.stat_result) -> bool:
        """Whether ``info`` describes the same inode."""
        return (info.st_dev, info.st_ino) == (self.device, self.inode)


class UnsafeEntry(Exception):
    """A user-controlled path is not (or no longer) the regular file or directory it must be.

    Attributes:
        path: The path concerned.
        detail: What is wrong, e.g. ``is a FIFO, not a regular file``.
    """

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"{path} {detail}")
        self.path = path
        self.detail = detail


class NotRegularFile(UnsafeEntry):
    """The path names a FIFO, socket, device or directory where a regular file is required."""


class ChangedEntry(UnsafeEntry):
    """The path was replaced (or its file resized) after it was listed."""


def file_kind(mode: int) -> str:
    """Describe the type of a file mode for messages (``a FIFO``, ``a socket``, ...)."""
    for test, text in (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return text
    return "a special file"


def require_regular(path: str, info: os.stat_result) -> None:
    """Refuse anything but a regular file (FIFOs would block a reader forever).

    Raises:
        NotRegularFile: When ``info`` is not a regular file.
    """
    if not stat.S_ISREG(info.st_mode):
        raise NotRegularFile(path, f"is {file_kind(info.st_mode)}, not a regular file")


def open_regular(
    path: str, expected: Identity | None = None, *, follow: bool = False
) -> tuple[int, os.stat_result]:
    """Open a user-controlled file for reading without blocking and without following a final symlink.

    This is the service's one rule for reading files that someone else may swap: ``O_NOFOLLOW`` (unless
    ``follow``, for whitelisted link targets), ``O_NONBLOCK`` so that a FIFO cannot hold the thread, then
    ``fstat`` on the descriptor: it must be a regular file and, when ``expected`` is given, the very inode
    that was listed (which also catches a directory higher up swapped for a symlink).

    Returns:
        The descriptor (the caller closes it) and its ``fstat``.

    Raises:
        ChangedEntry: The path is now a symbolic link or another file than ``expected``.
        NotRegularFile: The path names a FIFO, socket, device or directory.
        OSError: Any other failure to open it.
    """
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            _describe_unopenable(path, exc, expected)
        raise
    try:
        info = os.fstat(fd)
        if expected is not None and not expected.matches(info):
            raise ChangedEntry(path, "was replaced after it was listed")
        require_regular(path, info)
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def _describe_unopenable(path: str, exc: OSError, expected: Identity | None) -> None:
    """Turn ``ELOOP``/``ENXIO``/``EISDIR`` from a no-follow open into the matching typed error."""
    try:
        info = os.lstat(path)
    except OSError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise ChangedEntry(path, "is a symbolic link now") from exc
    if expected is not None and not expected.matches(info):
        raise ChangedEntry(path, "was replaced after it was listed") from exc
    require_regular(path, info)


def open_directory(path: str, expected: Identity | None = None) -> int:
    """Open a user-controlled directory without following a final symlink, checking its inode.

    Raises:
        ChangedEntry: The path is now a symbolic link or another directory than ``expected``.
        OSError: Any other failure.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path):
            raise ChangedEntry(path, "is a symbolic link now") from exc
        if exc.errno == errno.ENOTDIR and expected is not None:
            raise ChangedEntry(path, "was replaced after it was listed") from exc
        raise
    if expected is not None:
        try:
            info = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        if not expected.matches(info):
            os.close(fd)
            raise ChangedEntry(path, "was replaced after it was listed")
    return fd


def read_regular(path: str, expected: Identity) -> bytes:
    """All bytes of a user's small file (a request file), checked with :func:`open_regular`.

    Raises:
        UnsafeEntry: Not the regular file that was checked.
        OSError: Unreadable.
    """
    fd, _ = open_regular(path, expected)
    try:
        pieces: list[bytes] = []
        while True:
            data = os.read(fd, CHUNK)
            if not data:
                return b"".join(pieces)
            pieces.append(data)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------- hashing


def _read_exact(fd: int, size: int, path: str, *, strict: bool) -> bytes:
    """Exactly ``size`` bytes from the start of ``fd``; with ``strict``, the file must end there."""
    pieces: list[bytes] = []
    remaining = size
    while remaining:
        data = os.read(fd, min(remaining, CHUNK))
        if not data:
            raise ChangedEntry(path, "shrank while it was read")
        pieces.append(data)
        remaining -= len(data)
    if strict and os.read(fd, 1):
        raise ChangedEntry(path, "grew while it was read")
    return b"".join(pieces)


def _hash_exact(fd: int, size: int, path: str, *, strict: bool) -> str:
    """MD5 of exactly ``size`` bytes of ``fd`` (bounded: a file that keeps growing cannot hold us)."""
    digest = hashlib.md5()
    view = _buffer()
    remaining = size
    with open(fd, "rb", buffering=0, closefd=False) as handle:
        while remaining:
            count = handle.readinto(view[: min(remaining, CHUNK)])
            if not count:
                raise ChangedEntry(path, "shrank while it was read")
            digest.update(view[:count])
            remaining -= count
        if strict and handle.read(1):
            raise ChangedEntry(path, "grew while it was read")
    return digest.hexdigest()


def md5_file(path: str, *, follow: bool = True) -> tuple[str, int]:
    """MD5 (lower-case hex) and size of the regular file at ``path`` (a whitelisted link target).

    Raises:
        UnsafeEntry: Not a regular file.
        OSError: When the file cannot be read.
    """
    fd, info = open_regular(path, follow=follow)
    try:
        return _hash_exact(fd, info.st_size, path, strict=False), info.st_size
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Source:
    """One regular file as the walk listed it.

    Attributes:
        rel: Path relative to the walked root (for messages and the destination).
        path: Its path.
        size: Its size when listed.
        identity: Its inode when listed.
        parent: The inode of the directory it was listed in.
        changed: Its ``st_ctime_ns`` when listed, or ``None`` when unknown.
    """

    rel: str
    path: str
    size: int
    identity: Identity
    parent: Identity
    changed: int | None = None


@dataclass(frozen=True)
class Placement:
    """Where a transfer puts the files it hashes.

    Attributes:
        destination: The version directory.
        known: ``"<size>-<md5sum>"`` keys of files deduplicated into links instead of being copied.
        consume: Whether sources may be moved into the registry (or deleted after copying).
    """

    destination: str
    known: frozenset[str]
    consume: bool


def hash_batch(files: Sequence[Source], placement: Placement | None = None) -> list[str]:
    """MD5 of each listed file; with a copying ``placement``, also copy each file not ``known``.

    Each file is opened once (:func:`open_regular` against its listed identity); hashing and copying
    use that one descriptor, so a path swapped after the listing is never read. A consuming placement
    is not applied here (moving sources away must wait until the walk has resolved links to them): use
    :func:`place_batch` afterwards.

    Raises:
        UnsafeEntry: A file is not the regular file that was listed.
        RequestError: 500 naming the first file that cannot be read or copied.
    """
    out = []
    for source in files:
        with _opened(source) as (fd, info):
            md5sum, data = _first_pass(source, fd)
            out.append(md5sum)
            if (
                placement is not None
                and not placement.consume
                and f"{source.size}-{md5sum}" not in placement.known
            ):
                _place(source, fd, info, md5sum, data, placement)
    return out


def place_batch(files: Sequence[tuple[Source, str]], placement: Placement) -> None:
    """Move or copy each ``(source, md5sum)`` hashed by :func:`hash_batch` into the registry.

    The file is opened again against its listed identity and must still have the same MD5. Its change
    time tells without reading it: a write (or any change of its inode) since the listing sets
    ``st_ctime`` to the time of the change, which no user can set back, so only a file whose change time
    moved is hashed again. Hashing every file twice doubled the cost of a consuming upload, and could not
    stop an owner who keeps a descriptor from writing after the move anyway.

    Raises:
        UnsafeEntry: A file is not the regular file that was listed.
        RequestError: 500 on an unreadable file, a failed copy or a changed content.
    """
    with _Parents() as parents:
        for source, md5sum in files:
            with _opened(source) as (fd, info):
                data = None
                if source.changed is None or info.st_ctime_ns != source.changed:
                    again, data = _first_pass(source, fd)
                    if again != md5sum:
                        raise _mismatch(source)
                    os.lseek(fd, 0, os.SEEK_SET)
                _place(source, fd, info, md5sum, data, placement, parents)


class _Parents:
    """The listed source directories a batch moves files out of, each opened (and checked) once.

    A move renames relative to the descriptor of the directory the walk listed, so holding it for the
    batch moves files out of that very inode even if its path is swapped meanwhile.
    """

    def __init__(self) -> None:
        self._open: dict[tuple[str, Identity], int] = {}

    def __enter__(self) -> _Parents:
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()

    def of(self, source: Source) -> int:
        """Descriptor of the directory ``source`` was listed in (opened by :func:`open_directory`).

        Raises:
            ChangedEntry: That directory was replaced after it was listed.
            OSError: It cannot be opened.
        """
        key = (os.path.dirname(source.path), source.parent)
        fd = self._open.get(key)
        if fd is None:
            fd = self._open[key] = open_directory(key[0], source.parent)
        return fd


@contextlib.contextmanager
def _opened(source: Source) -> Iterator[tuple[int, os.stat_result]]:
    try:
        fd, info = open_regular(source.path, source.identity)
    except OSError as exc:
        raise RequestError(500, f"failed to compute the MD5 checksum; {describe_os_error(exc)}") from exc
    try:
        if info.st_size != source.size:
            raise ChangedEntry(source.path, "changed size after it was listed")
        yield fd, info
    finally:
        os.close(fd)


def _first_pass(source: Source, fd: int) -> tuple[str, bytes | None]:
    """MD5 of a listed file, plus its bytes when it is small enough to be copied from memory."""
    try:
        if source.size < CHUNK:
            data = _read_exact(fd, source.size, source.path, strict=True)
            return hashlib.md5(data).hexdigest(), data
        return _hash_exact(fd, source.size, source.path, strict=True), None
    except OSError as exc:
        raise RequestError(500, f"failed to compute the MD5 checksum; {describe_os_error(exc)}") from exc


def _place(
    source: Source,
    fd: int,
    info: os.stat_result,
    md5sum: str,
    data: bytes | None,
    placement: Placement,
    parents: _Parents | None = None,
) -> None:
    destination = os.path.join(placement.destination, source.rel)
    if placement.consume and parents is not None and _move(source, fd, info, destination, parents):
        return
    try:
        _copy_verified(source, fd, destination, md5sum, data)
    except OSError as exc:
        raise RequestError(
            500, f'failed to copy "{source.rel}" into the registry; {describe_os_error(exc)}'
        ) from exc
    if placement.consume:
        _remove_source(source)


_PIPELINE_STEP = 8 << 20


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


def _copy_large(fd_in: int, fd_out: int, size: int) -> str:
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
        # Bounded by the listed size: a source that keeps growing cannot keep the copy going.
        while offset < size:
            count = _copy_range(fd_in, fd_out, min(_PIPELINE_STEP, size - offset), fallback)
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


def _copy_verified(source: Source, fd_in: int, destination: str, md5sum: str, data: bytes | None) -> None:
    """Copy from the already hashed descriptor; a large copy is re-read and must hash the same."""
    try:
        fd_out = os.open(destination, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        # The reference's words, e.g. when the registry has no inode left for the copy.
        version_dir = destination.removesuffix("/" + source.rel)
        raise RequestError(
            500,
            f'failed to copy file at "{source.rel}" to "{version_dir}"; failed to open output file at '
            f"'{destination}'; {os_error_text('open', destination, exc)}",
        ) from exc
    try:
        if data is not None:
            view = memoryview(data)
            while view:
                view = view[os.write(fd_out, view) :]
            return
        os.lseek(fd_in, 0, os.SEEK_SET)
        copied = _copy_large(fd_in, fd_out, source.size)
    finally:
        os.close(fd_out)
    if copied != md5sum:
        raise _mismatch(source)


def _mismatch(source: Source) -> RequestError:
    """The reference's answer when the bytes placed are not the bytes hashed."""
    return RequestError(500, f'mismatch in checksums between source and destination files for "{source.rel}"')


def _move(source: Source, fd: int, info: os.stat_result, destination: str, parents: _Parents) -> bool:
    """Move a source file the service owns into place; ``False`` when the caller must copy instead.

    The rename happens inside the listed parent directory (checked by inode), and what arrived in the
    registry must be the inode that was hashed; anything else is removed again and fails the upload.
    """
    if info.st_uid != os.geteuid():
        return False
    try:
        parent = parents.of(source)
    except (OSError, UnsafeEntry):
        return False
    try:
        if stat.S_IMODE(info.st_mode) != 0o644:
            os.fchmod(fd, 0o644)
        os.rename(os.path.basename(source.path), destination, src_dir_fd=parent)
    except OSError:
        return False
    try:
        arrived = os.lstat(destination)
    except OSError:
        arrived = None
    if arrived is None or not Identity.of(info).matches(arrived):
        with contextlib.suppress(OSError):
            os.unlink(destination)
        raise ChangedEntry(source.path, "was replaced while it was moved")
    return True


def _remove_source(source: Source) -> None:
    """Delete a consumed source, but only the listed inode inside the listed directory."""
    try:
        parent = open_directory(os.path.dirname(source.path), source.parent)
    except (OSError, UnsafeEntry):
        return
    try:
        name = os.path.basename(source.path)
        if source.identity.matches(os.stat(name, dir_fd=parent, follow_symlinks=False)):
            os.unlink(name, dir_fd=parent)
    except OSError:
        pass
    finally:
        os.close(parent)
