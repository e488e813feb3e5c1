"""The download cache: verified, atomic, safe against hostile paths and hostile neighbours.

Files live at ``<root>/REGISTRY/<project>/<asset>/<version>/<path>`` (the layout pygobbler uses, so
caches can be shared). Every file is written to a temporary file in its destination directory and renamed
into place only after its size and MD5 match the manifest, so a concurrent reader, in this process or
another, sees either nothing or a complete, verified file. A cached file is trusted again only after the
same check.

A cache may be shared with other users, who could swap a directory for a symlink at any moment. So every
directory is reached by opening each component relative to its parent's descriptor with ``O_NOFOLLOW``,
and every temporary file is created, and renamed, relative to the descriptor of the directory that was
opened that way: a symlink planted before or after any check never receives a byte. Descriptors of recently
used directories are kept (a bounded number), so a 2,000-file download does not walk every path again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
import stat
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ._atomic import temp_name
from ._filecopy import copy_descriptor
from ._pathsafety import checked_relative
from ._records import Entry
from .errors import ConfigurationError, GobblerError, IntegrityError, UnsafePathError

__all__ = [
    "CHUNK",
    "RESUME_THRESHOLD",
    "STALE_AFTER",
    "TEMP_PREFIX",
    "TEMP_SUFFIXES",
    "Cache",
    "DirectoryTable",
    "PartialFile",
    "announced_message",
    "integrity_problem",
    "is_temporary",
    "md5_of_fd",
    "md5_of_file",
    "open_directory_nofollow",
    "storage_error",
    "store_atomically",
    "sweep_stale_temporary",
    "too_long_message",
]

CHUNK = 1 << 20

#: Age after which a temporary file is taken to be abandoned (its writer was killed): a day, as a download
#: still running writes to its file at least every few seconds.
STALE_AFTER = 24 * 3600.0

#: Names of the cache's temporary files: ``.gobbler-<digits>.part`` (downloads), ``.link`` (copies) and
#: ``.gobbler-<name>.incomplete`` (the kept partial file of a large download, see :data:`RESUME_THRESHOLD`).
TEMP_PREFIX = ".gobbler-"
INCOMPLETE_SUFFIX = ".incomplete"
TEMP_SUFFIXES = (".part", ".link", INCOMPLETE_SUFFIX)

#: Verified downloads at least this large keep their bytes in a partial file under a stable name when they
#: are interrupted, and the next attempt asks only for the rest. Below it, a restart costs less than the
#: extra open, lock and re-hash of the kept prefix, and the random temporary name is used.
RESUME_THRESHOLD = 8 << 20

# Most filesystems allow 255 bytes per name; checked first, so a hostile listing fails before a download.
_NAME_MAX = 255
_KEPT_DESCRIPTORS = 64
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_IN_THE_WAY = (errno.ELOOP, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.EMLINK)

# Called with a number of bytes written (negative when a partial download is thrown away).
ByteCallback = Callable[[int], None]


def md5_of_fd(fd: int) -> str:
    """Hex MD5 of an open file read from its start in 1 MiB chunks (the descriptor stays open)."""
    digest = hashlib.md5()
    offset = 0
    while chunk := os.pread(fd, CHUNK, offset):
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()


def integrity_problem(entry: Entry, size: int, md5: str | None) -> str | None:
    """What differs between received bytes (their size and MD5) and their manifest entry, or ``None``."""
    if size != entry.size:
        return f"expected {entry.size} bytes, received {size}"
    if md5 != entry.md5sum:
        return f"expected MD5 {entry.md5sum}, received {md5}"
    return None


def md5_of_file(path: str | os.PathLike[str]) -> str:
    """Hex MD5 of a file, read in 1 MiB chunks."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return md5_of_fd(fd)
    finally:
        os.close(fd)


def storage_error(exc: OSError, what: str, where: str) -> GobblerError:
    """The typed error for an ``OSError`` met while storing a file on this machine.

    A name the filesystem cannot hold, or something else in its way (a file where a directory should be, a
    directory where a file should be, a symlink), is an :class:`UnsafePathError`; anything else (a full
    disk, no permission) means the directory cannot be used: :class:`ConfigurationError`.
    """
    if exc.errno in _IN_THE_WAY:
        return UnsafePathError(f"{what}: cannot store it in {where}: {exc.strerror or exc}")
    return ConfigurationError(f"{what}: cannot write in {where}: {exc.strerror or exc}")


def is_temporary(name: str) -> bool:
    """Whether a file name is one of the cache's temporary files."""
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIXES)


def sweep_stale_temporary(dir_fd: int, older_than: float = STALE_AFTER) -> tuple[int, int]:
    """Remove this user's temporary files older than ``older_than`` seconds from one directory.

    Returns:
        How many files were removed and their bytes.
    """
    now, uid = time.time(), os.geteuid()
    count = freed = 0
    with os.scandir(dir_fd) as entries:
        names = [entry.name for entry in entries if is_temporary(entry.name)]
    for name in names:
        try:
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != uid or now - info.st_mtime < older_than:
                continue
            os.unlink(name, dir_fd=dir_fd)
        except OSError:
            continue  # taken by a concurrent sweep, or not ours to remove
        count += 1
        freed += info.st_size
    return count, freed


def _before_first_gap(fd: int, size: int, block: int) -> int:
    """How much of a kept partial file may be a gapless prefix: all of it, or up to its first hole.

    A ranged download (:mod:`gobbler_sdk._ranged`) writes blocks in place and cuts the file to its gapless
    prefix when interrupted; killed outright, it leaves later blocks behind a hole. Bytes from the last
    filesystem block before the hole on are not trusted (that block may end in zeros never written). A
    filesystem that reports no holes leaves the size as it is: the manifest's MD5 still catches a gap, and
    the file is then downloaded once more from its first byte.
    """
    try:
        hole = os.lseek(fd, 0, os.SEEK_HOLE)
    except OSError:
        return size
    if hole >= size:
        return size
    return max(hole - max(block, 4096), 0)


def _checked_storable(path: str) -> str:
    # A name of at most _NAME_MAX // 4 characters cannot exceed _NAME_MAX bytes in UTF-8 (nor with
    # surrogate escapes): only longer ones are encoded to be measured.
    for part in checked_relative(path).split("/"):
        if len(part) > _NAME_MAX // 4 and len(os.fsencode(part)) > _NAME_MAX:
            raise UnsafePathError(f"refusing path {path!r}: a name longer than {_NAME_MAX} bytes")
    return path


def _plain_name(name: str) -> bool:
    """Whether one path component is a name the cache can hold (what :func:`_checked_storable` accepts)."""
    return (
        name not in ("", ".", "..")
        and "\\" not in name
        and "\x00" not in name
        and (len(name) <= _NAME_MAX // 4 or len(os.fsencode(name)) <= _NAME_MAX)
    )


def too_long_message(what: str, received: int, limit: int | None) -> str:
    """The message for a body of at least ``received`` bytes, more than the ``limit`` a manifest records."""
    return (
        f"{what}: the server sent at least {received} bytes, "
        f"more than the {limit} the manifest records (stopped there, nothing kept)"
    )


def announced_message(what: str, length: int, limit: int | None) -> str:
    """The message for a body announced (``Content-Length``) longer than the manifest records."""
    return (
        f"{what}: the server announces {length} bytes, "
        f"more than the {limit} the manifest records (nothing read)"
    )


_TEMPORARY_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def store_atomically(dir_fd: int, name: str, data: bytes, what: str, where: str) -> None:
    """Write a whole file at once in a directory held by descriptor: ``openat``, ``write``, ``renameat``.

    The bytes go to a fresh temporary name (``O_EXCL``, never through a symlink) that is renamed over
    ``name`` once complete and closed, so a reader sees either the old file or the whole new one; the
    temporary file is removed on any failure.

    Raises:
        UnsafePathError: When something is in the way (a directory named ``name``).
        ConfigurationError: When the file cannot be written (a full disk, no permission); its cause is the
            ``OSError`` (``FileNotFoundError`` when the directory was removed meanwhile).
    """
    while True:
        temporary = f"{TEMP_PREFIX}{secrets.randbelow(10**12):012d}.part"
        try:
            fd = os.open(temporary, _TEMPORARY_FLAGS, 0o666, dir_fd=dir_fd)
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise storage_error(exc, what, where) from exc
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.rename(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=dir_fd)
        if isinstance(exc, OSError):
            raise storage_error(exc, what, where) from exc
        raise


def open_directory_nofollow(base_fd: int, parts: list[str], *, create: bool, what: str, where: str) -> int:
    """Open ``base/part1/part2/...`` one component at a time, never following a symlink.

    Args:
        base_fd: Descriptor of the starting directory (left open).
        parts: Components below it (already checked to be plain names).
        create: Create missing directories.
        what: Description for error messages.
        where: The directory tree, for error messages.

    Returns:
        A new descriptor of the last directory (the caller closes it).

    Raises:
        FileNotFoundError: When a component is missing and ``create`` is false.
        UnsafePathError: When a component is a symlink or not a directory.
        ConfigurationError: When a directory cannot be created.
    """
    fd = os.dup(base_fd)
    try:
        for part in parts:
            try:
                child = os.open(part, _DIRECTORY_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(part, dir_fd=fd)
                except FileExistsError:
                    pass  # made by a concurrent filler; opened (and checked) below
                except OSError as exc:
                    raise storage_error(exc, what, where) from exc
                try:
                    child = os.open(part, _DIRECTORY_FLAGS, dir_fd=fd)
                except OSError as exc:
                    raise storage_error(exc, what, where) from exc
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafePathError(
                        f"refusing path {what!r}: a symlink or a file is in the way in {where}"
                    ) from None
                raise storage_error(exc, what, where) from exc
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


class PartialFile:
    """A download in progress: bytes go to a temporary file and into an MD5 as they arrive.

    Call :meth:`commit` to verify and rename into place, or :meth:`discard` to drop it. The temporary file
    is created, and renamed, relative to a directory descriptor, so it can never land elsewhere.

    Args:
        dir_fd: Descriptor of the destination directory; the partial file keeps a duplicate of it.
        name: The destination's name in that directory.
        target: The destination's full path (what :meth:`commit` returns).
        hashing: Compute the MD5 as bytes arrive (needed to verify against a manifest entry).
        on_bytes: Called with the size of every chunk written (for progress within a file).
        limit: Most bytes the file may hold (its manifest entry's size): a chunk that would take it past
            this is refused before any of it is written, so a server that sends more than the manifest
            says never fills the disk.
        what: Description for the error message of a refused chunk.
        resumable: Write to the stable partial name and take over its bytes (which are then always
            hashed); falls back to a random temporary name when that file cannot safely be used.
    """

    def __init__(
        self,
        dir_fd: int,
        name: str,
        target: Path,
        *,
        hashing: bool = True,
        on_bytes: ByteCallback | None = None,
        limit: int | None = None,
        what: str = "download",
        resumable: bool = False,
    ) -> None:
        self.target = target
        self.size = 0
        #: Bytes taken over from an interrupted attempt (re-hashed, never trusted as they are).
        self.resumed = 0
        #: Whether the bytes live under the stable partial name, kept by :meth:`abandon`.
        self.resumable = False
        self.limit = limit
        self._what = what
        self._name = name
        self._digest = hashlib.md5() if hashing else None
        self._on_bytes = on_bytes
        self._dir_fd = os.dup(dir_fd)
        self._fd = -1
        try:
            if resumable and self._take_over_partial():
                return
            while True:
                self._tmp = os.path.basename(temp_name("", TEMP_PREFIX, ".part"))
                try:
                    self._fd = os.open(
                        self._tmp,
                        # Readable too: a ranged download hashes what its parts wrote (see _ranged).
                        os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                        0o666,
                        dir_fd=self._dir_fd,
                    )
                    break
                except FileExistsError:
                    continue
        except OSError as exc:
            os.close(self._dir_fd)
            self._dir_fd = -1
            raise storage_error(exc, str(target), str(target.parent)) from exc

    def _take_over_partial(self) -> bool:
        """Open (or create) the stable partial file and take over its bytes; ``False`` when it cannot be used.

        The file is used only when it is a regular file of this user with one link, reached without
        following a symlink, and no other download holds its lock (two writers would interleave bytes).
        Its bytes are hashed again here: what a previous attempt wrote is never trusted as it is, and the
        manifest's MD5 of the whole file is checked at the end in any case.
        """
        stable = f"{TEMP_PREFIX}{self._name}{INCOMPLETE_SUFFIX}"
        if len(os.fsencode(stable)) > _NAME_MAX:
            return False
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        try:
            fd = os.open(stable, flags, 0o666, dir_fd=self._dir_fd)
        except OSError:
            return False  # a symlink, a FIFO held open elsewhere, no permission: use a fresh temporary file
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_nlink != 1:
                os.close(fd)
                return False
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Locked: the name must still lead to this file (a finished download renames it into place).
            named = os.stat(stable, dir_fd=self._dir_fd, follow_symlinks=False)
            if (named.st_dev, named.st_ino) != (info.st_dev, info.st_ino):
                os.close(fd)
                return False
            status = os.fstat(fd)
            size = status.st_size
            if self.limit is None or size > self.limit:
                size = 0
            size = _before_first_gap(fd, size, status.st_blksize)
            digest, offset = hashlib.md5(), 0
            while offset < size and (chunk := os.pread(fd, min(CHUNK, size - offset), offset)):
                digest.update(chunk)
                offset += len(chunk)
            os.ftruncate(fd, offset)
            os.lseek(fd, offset, os.SEEK_SET)
        except OSError:
            os.close(fd)  # locked by a concurrent download of the same file, or unreadable
            return False
        self._fd, self._tmp, self.resumable = fd, stable, True
        self._digest = digest
        self.size = self.resumed = offset
        if self._on_bytes is not None and offset:
            self._on_bytes(offset)  # progress starts where the last attempt stopped
        return True

    def detach_digest(self) -> hashlib._Hash | None:
        """Hand over the running MD5 (over the bytes written so far) to a caller that hashes the rest.

        The file then stops hashing what it writes, and :meth:`commit` needs the caller's ``digest``: a
        resumed download hashes its body on a helper thread from the kept prefix's state.
        """
        digest, self._digest = self._digest, None
        return digest

    def restart(self) -> None:
        """Drop the bytes taken over from an earlier attempt and start the file from its first byte."""
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        if self._digest is not None:
            self._digest = hashlib.md5()
        if self._on_bytes is not None and self.size:
            self._on_bytes(-self.size)
        self.size = self.resumed = 0

    def abandon(self) -> None:
        """Stop after an interruption: a resumable file keeps its bytes for the next attempt; others go."""
        if not self.resumable:
            self.discard()
            return
        self._close()
        self._release()
        if self._on_bytes is not None and self.size:
            self._on_bytes(-self.size)

    def write(self, chunk: bytes | memoryview) -> None:
        """Append a chunk.

        Raises:
            IntegrityError: When the chunk would take the file past its ``limit`` (it is removed).
            ConfigurationError: When the disk is full or the file cannot be written (it is removed).
        """
        if self.limit is not None and self.size + len(chunk) > self.limit:
            self.discard()
            raise IntegrityError(too_long_message(self._what, self.size + len(chunk), self.limit))
        view = memoryview(chunk)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            self.discard()
            raise storage_error(exc, str(self.target), str(self.target.parent)) from exc
        if self._digest is not None:
            self._digest.update(chunk)
        self.size += len(chunk)
        if self._on_bytes is not None:
            self._on_bytes(len(chunk))

    def fileno(self) -> int:
        """The partial file's descriptor (open for reading and writing)."""
        return self._fd

    def write_at(self, chunk: bytes | memoryview, offset: int) -> None:
        """Write a chunk at ``offset`` (a part of a ranged download); count it with :meth:`count_written`.

        Safe to call from several threads at once for parts that do not overlap.

        Raises:
            IntegrityError: When the chunk would end past the file's ``limit`` (nothing is written).
            ConfigurationError: When the disk is full or the file cannot be written.
        """
        if self.limit is not None and offset + len(chunk) > self.limit:
            raise IntegrityError(too_long_message(self._what, offset + len(chunk), self.limit))
        view = memoryview(chunk)
        try:
            while view:
                written = os.pwrite(self._fd, view, offset)
                view, offset = view[written:], offset + written
        except OSError as exc:
            raise storage_error(exc, str(self.target), str(self.target.parent)) from exc

    def count_written(self, count: int) -> None:
        """Count bytes written by :meth:`write_at` (the caller serialises calls), reporting progress."""
        self.size += count
        if self._on_bytes is not None:
            self._on_bytes(count)

    def keep_prefix(self, length: int) -> None:
        """Cut the file to its first ``length`` bytes: what a ranged download wrote without a gap.

        The count of written bytes stays, so :meth:`abandon` or :meth:`discard` takes all of them back from
        the progress; the next attempt takes the kept prefix over (see ``resumable``).
        """
        os.ftruncate(self._fd, length)

    def check_announced(self, length: int | None) -> None:
        """Refuse, before reading any of it, a body announced longer than ``limit`` (``Content-Length``).

        Raises:
            IntegrityError: When ``length`` exceeds the limit (the temporary file is removed).
        """
        if length is not None and self.limit is not None and length > self.limit:
            self.discard()
            raise IntegrityError(announced_message(self._what, length, self.limit))

    def commit(self, entry: Entry | None, what: str, *, digest: str | None = None) -> Path:
        """Verify against ``entry`` (when given) and atomically move into place.

        Args:
            entry: Expected size and MD5; ``None`` accepts anything.
            what: Description for the error message.
            digest: The MD5 when it was computed elsewhere (by a hashing thread).

        Raises:
            IntegrityError: When the size or MD5 differs; the temporary file is removed.
            UnsafePathError: When something is in the way of the file (a directory of that name).
            ConfigurationError: When the rename fails otherwise.
        """
        self._close()
        if entry is not None:
            found = digest if digest is not None else self._digest.hexdigest() if self._digest else None
            problem = integrity_problem(entry, self.size, found)
            if problem is not None:
                self.discard()
                raise IntegrityError(f"{what}: {problem}")
        try:
            os.replace(self._tmp, self._name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd)
        except OSError as exc:
            self.discard()
            raise storage_error(exc, what, str(self.target.parent)) from exc
        self._release()
        return self.target

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _release(self) -> None:
        if self._dir_fd >= 0:
            os.close(self._dir_fd)
            self._dir_fd = -1

    def discard(self) -> None:
        """Remove the temporary file (the bytes it held are taken back from the progress count)."""
        self._close()
        if self._dir_fd >= 0:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp, dir_fd=self._dir_fd)
            self._release()
            if self._on_bytes is not None and self.size:
                self._on_bytes(-self.size)


class Cache:
    """A directory of verified copies of registry files.

    Args:
        root: Cache directory; created on first use.
    """

    def __init__(self, root: str | os.PathLike[str], *, area: str = "REGISTRY") -> None:
        self.root = Path(root)
        self.area = area
        self._base = os.path.join(os.fspath(root), area)
        self._lock = threading.Lock()
        # Registry-relative directory ("" for the base) -> descriptor, most recently used last.
        self._fds: OrderedDict[str, int] = OrderedDict()
        # Closing the kept descriptors is a finalizer, not ``__del__``: it also runs at interpreter exit,
        # before module globals are torn down, so it never fails there (a ``__del__`` printed errors then).
        weakref.finalize(self, _close_all, self._fds)

    def __getstate__(self) -> dict[str, Any]:
        # Descriptors and locks belong to one process; a copy opens its own.
        return {"root": self.root, "area": self.area}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["root"], area=state.get("area", "REGISTRY"))  # type: ignore[misc]

    @property
    def registry_root(self) -> Path:
        """Where registry files are mirrored."""
        return Path(self._base)

    def forget(self) -> None:
        """Close the kept directory descriptors (after directories were removed, or when done)."""
        with self._lock:
            fds = list(self._fds.values())
            self._fds.clear()
        for fd in fds:
            os.close(fd)

    def _base_fd(self) -> int:
        try:
            os.makedirs(self.root, exist_ok=True)
            root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise ConfigurationError(f"cannot use {self.root} as the download cache: {exc}") from exc
        try:
            return open_directory_nofollow(
                root_fd, [self.area], create=True, what=self.area, where=str(self.root)
            )
        finally:
            os.close(root_fd)

    def dir_fd(self, directory: str, *, create: bool) -> int:
        """A new descriptor of a registry-relative directory of the cache, reached without following symlinks.

        Args:
            directory: ``""`` for the cache's registry root, else a checked relative path.
            create: Create missing directories.

        Raises:
            FileNotFoundError: When it is missing and ``create`` is false.
            UnsafePathError: When a symlink or a file is in the way.
        """
        with self._lock:
            kept = self._fds.get(directory)
            if kept is not None:
                self._fds.move_to_end(directory)
                return os.dup(kept)
            parent, start = "", None
            parts = directory.split("/") if directory else []
            for cut in range(len(parts) - 1, -1, -1):
                prefix = "/".join(parts[:cut])
                if prefix in self._fds:
                    parent, start = prefix, os.dup(self._fds[prefix])
                    break
        if start is None:
            start = self._base_fd()
            parent = ""
            with self._lock:
                if "" not in self._fds:
                    self._fds[""] = os.dup(start)
        below = parts[len(parent.split("/")) if parent else 0 :]
        try:
            fd = open_directory_nofollow(start, below, create=create, what=directory, where=str(self.root))
        finally:
            os.close(start)
        with self._lock:
            if directory not in self._fds:
                self._fds[directory] = os.dup(fd)
                while len(self._fds) > _KEPT_DESCRIPTORS:
                    os.close(self._fds.popitem(last=False)[1])
        return fd

    @contextlib.contextmanager
    def _directory_of(self, path: str, *, create: bool) -> Iterator[tuple[int, str]]:
        directory, _, name = _checked_storable(path).rpartition("/")
        fd = self.dir_fd(directory, create=create)
        try:
            yield fd, name
        finally:
            os.close(fd)

    def local_path(self, path: str) -> Path:
        """Where a registry-relative path is (or would be) cached; nothing is created or checked on disk."""
        return Path(self._base, *checked_relative(path).split("/"))

    def path_for(self, path: str) -> Path:
        """Local path of a registry-relative path; its directory is created, reached without symlinks.

        Raises:
            UnsafePathError: For absolute paths, ``..`` components, backslashes, over-long names, or a
                symlink or file in the way in the cache.
            ConfigurationError: When the cache directory cannot be created.
        """
        with self._directory_of(path, create=True):
            return self.local_path(path)

    def directory_for(self, path: str) -> Path:
        """Like :meth:`path_for`, for a directory that is itself created."""
        if path:
            _checked_storable(path)
        os.close(self.dir_fd(path, create=True))
        return self.local_path(path) if path else Path(self._base)

    def open_file(self, path: str) -> int | None:
        """A read-only descriptor of a cached regular file (never through a symlink), or ``None``."""
        try:
            with self._directory_of(path, create=False) as (fd, name):
                file_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=fd)
        except (OSError, UnsafePathError):
            return None
        if not stat.S_ISREG(os.fstat(file_fd).st_mode):
            os.close(file_fd)
            return None
        return file_fd

    def open_file_exists(self, path: str) -> bool:
        """Whether ``path`` is cached as a regular file (reached without following symlinks)."""
        fd = self.open_file(path)
        if fd is None:
            return False
        os.close(fd)
        return True

    def valid(self, path: str, entry: Entry | None) -> bool:
        """Whether ``path`` is cached as a regular file matching ``entry`` (size, then MD5)."""
        fd = self.open_file(path)
        if fd is None:
            return False
        try:
            if entry is None:
                return True
            return os.fstat(fd).st_size == entry.size and md5_of_fd(fd) == entry.md5sum
        finally:
            os.close(fd)

    def read_bytes(self, path: str) -> bytes | None:
        """Content of a cached registry file, or ``None`` when it is not cached."""
        fd = self.open_file(path)
        if fd is None:
            return None
        with os.fdopen(fd, "rb") as handle:
            return handle.read()

    def write_bytes(self, path: str, data: bytes) -> Path:
        """Store a registry file's content atomically."""
        with self.directories() as table:
            table.store(path, data)
        return self.local_path(path)

    def directories(self) -> DirectoryTable:
        """A table of directory descriptors for many files of the cache (a context manager; see its class)."""
        return DirectoryTable(self)

    def begin(
        self,
        path: str,
        *,
        hashing: bool = True,
        on_bytes: ByteCallback | None = None,
        limit: int | None = None,
        resumable: bool = False,
    ) -> PartialFile:
        """Start writing the cached copy of ``path``, refusing to write more than ``limit`` bytes.

        With ``resumable`` (and a ``limit``), the bytes go to the stable partial file
        ``.gobbler-<name>.incomplete``, taking over what an interrupted attempt left there (see
        :class:`PartialFile`); the caller then asks only for the rest.
        """
        for attempt in (1, 2):
            with self._directory_of(path, create=True) as (fd, name):
                try:
                    return PartialFile(
                        fd,
                        name,
                        self.local_path(path),
                        hashing=hashing,
                        on_bytes=on_bytes,
                        limit=limit,
                        what=f"fetch {path}",
                        resumable=resumable,
                    )
                except ConfigurationError as exc:
                    # A kept descriptor of a directory removed since (by a prune in another process).
                    if attempt == 2 or not isinstance(exc.__cause__, FileNotFoundError):
                        raise
            self.forget()
        raise AssertionError("unreachable")

    def sweep_temporary(
        self, directories: Iterable[str], *, older_than: float = STALE_AFTER
    ) -> tuple[int, int]:
        """Remove this user's stale temporary files from some registry-relative directories of the cache.

        Returns:
            How many files were removed and their bytes.
        """
        count = freed = 0
        for directory in directories:
            try:
                fd = self.dir_fd(directory, create=False)
            except (OSError, GobblerError):
                continue
            try:
                removed, size = sweep_stale_temporary(fd, older_than)
            finally:
                os.close(fd)
            count, freed = count + removed, freed + size
        return count, freed

    def copy_within(self, source: str, target: str) -> None:
        """Give ``target`` the verified bytes of ``source``: a hard link when possible, else a copy."""
        with (
            self._directory_of(source, create=False) as (sfd, sname),
            self._directory_of(target, create=True) as (tfd, tname),
        ):
            temporary = os.path.basename(temp_name("", TEMP_PREFIX, ".link"))
            try:
                try:
                    os.link(sname, temporary, src_dir_fd=sfd, dst_dir_fd=tfd, follow_symlinks=False)
                except OSError:
                    _copy_between(sfd, sname, tfd, temporary)
                os.replace(temporary, tname, src_dir_fd=tfd, dst_dir_fd=tfd)
            except OSError as exc:
                raise storage_error(exc, target, str(self.root)) from exc
            finally:
                # rename() does nothing when both names already link the same file (another filler got
                # there first), so the temporary name can survive a successful replace.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary, dir_fd=tfd)


class DirectoryTable:
    """Descriptors of the cache's directories held for one batch of files, each opened once.

    A directory download touches thousands of files in a few directories: each directory is reached once
    (without following symlinks, see :meth:`Cache.dir_fd`) and its descriptor held (the most recently
    opened 64) until the table is closed, so each file then costs only the system calls on the file
    itself. A descriptor is only used within the call that returned it. Use as a context manager.

    Args:
        cache: The cache whose directories are opened.
    """

    def __init__(self, cache: Cache) -> None:
        self._cache = cache
        self._fds: dict[str, int] = {}
        # Directories this table created (so they held no file when it did).
        self._fresh: set[str] = set()

    def __enter__(self) -> DirectoryTable:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every descriptor held."""
        fds, self._fds = list(self._fds.values()), {}
        for fd in fds:
            os.close(fd)

    def place(self, path: str, *, create: bool = True) -> tuple[int, str]:
        """The held descriptor of ``path``'s directory (created when missing) and the file's name.

        Raises:
            UnsafePathError: For a path the cache cannot hold, or a symlink or file in the way.
            FileNotFoundError: When the directory is missing and ``create`` is false.
        """
        directory, slash, name = path.rpartition("/")
        if (slash and not directory) or not _plain_name(name):
            _checked_storable(path)  # raises, naming what is wrong
            raise UnsafePathError(f"refusing unsafe path {path!r}")
        fd = self._fds.get(directory)
        if fd is None:
            # Each directory is checked when it is reached; each file's name on its own.
            if directory:
                _checked_storable(directory)
            try:
                fd = self._cache.dir_fd(directory, create=False)
            except FileNotFoundError:
                if not create:
                    raise
                fd = self._cache.dir_fd(directory, create=True)
                # Made just now: nothing in it can be a valid cached copy (a file a concurrent filler
                # puts there meanwhile is only downloaded again, never trusted unchecked).
                self._fresh.add(directory)
            if len(self._fds) >= _KEPT_DESCRIPTORS:
                # A bounded number held (a tree of thousands of directories must not exhaust descriptors);
                # the oldest goes, which a download walking the tree in order no longer needs.
                os.close(self._fds.pop(next(iter(self._fds))))
            self._fds[directory] = fd
        return fd, name

    def valid(self, path: str, entry: Entry | None) -> bool:
        """As :meth:`Cache.valid`, through the held descriptor (a missing directory: not cached)."""
        if path.rpartition("/")[0] in self._fresh:
            return False
        try:
            fd, name = self.place(path, create=False)
            file_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=fd)
        except (OSError, UnsafePathError):
            return False
        try:
            info = os.fstat(file_fd)
            if not stat.S_ISREG(info.st_mode):
                return False
            return entry is None or (info.st_size == entry.size and md5_of_fd(file_fd) == entry.md5sum)
        finally:
            os.close(file_fd)

    def store(self, path: str, data: bytes) -> None:
        """Write ``path``'s whole content atomically (see :func:`store_atomically`).

        A directory removed since it was opened (a prune in another process) is reached again, once.
        """
        for attempt in (1, 2):
            fd, name = self.place(path)
            try:
                store_atomically(fd, name, data, f"fetch {path}", str(self._cache.root))
                return
            except ConfigurationError as exc:
                if attempt == 2 or not isinstance(exc.__cause__, FileNotFoundError):
                    raise
            self.close()
            self._cache.forget()


def _copy_between(sfd: int, sname: str, tfd: int, tname: str) -> None:
    src = os.open(sname, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=sfd)
    try:
        dst = os.open(
            tname, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=tfd
        )
        try:
            copy_descriptor(src, dst, os.fstat(src).st_size)
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _close_all(fds: OrderedDict[str, int]) -> None:
    """Close a cache's kept directory descriptors (its finalizer)."""
    for fd in fds.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    fds.clear()
