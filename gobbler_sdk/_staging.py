"""Preparing an upload: directories inside staging go as they are, others are copied in first.

The copy keeps nested and empty directories and symlinks (relative links that stay inside the tree stay
relative, so they become links between files of the new version; links that point elsewhere are made
absolute, so links into the registry still reach their target). Each file is copied by the kernel where it
can (``copy_file_range``, else ``sendfile``, else plain reads and writes) and checked by size: the bytes
copied must add up to the size the scan of the source found. Copies are not re-hashed: that would read
every byte twice more, the largest cost of an upload, to second-guess the kernel's own copy — the same
trust ``cp`` gets. The service hashes the staged bytes it stores, so the manifest always describes what is
in the registry.

**What the service would refuse is refused first.** The scan collects every entry the service's walk
rejects — FIFOs, devices and sockets, unreadable files and directories, dangling links,
links to directories, links to skipped files, and links that leave both the tree and the registry — and
raises one :class:`~gobbler_sdk.errors.InvalidRequestError` listing them before anything is copied. With
``follow_symlinks`` such links are copied as what they point to instead (a file's bytes, a directory's
contents). Links inside the tree and links into the registry stay links: the service turns them into
manifest links without storing their bytes twice.

**Staging is shared with every user of the machine** (mode ``1777``). A copy is therefore built so that no
other user can change it or redirect it: its root is created with ``mkdir`` (which fails if the name
exists), opened with ``O_NOFOLLOW``, checked to be a directory this user owns, and set to mode ``0755``
with ``fchmod`` whatever the umask is. Everything below is created relative to that descriptor (so a root
renamed away and replaced by a symlink in a staging directory without the sticky bit is never followed),
with ``mkdir`` that fails if the name exists and ``O_CREAT | O_EXCL | O_NOFOLLOW`` opens, each set to
``0755`` (directories) or ``0644`` (files) explicitly. As only this user can write inside a ``0755`` root,
the only symlinks below it are the ones the copy made itself, and every path the copy opens ends in a
component it has just created.

**Abandoned copies are swept.** Each private copy holds an ``flock`` on a marker file inside it
(``..gobbler-sdk-copy.lock``; the service never uploads ``..`` files) for as long as it exists. A client
killed mid-upload leaves its copy behind, unlocked; :func:`sweep_abandoned` removes such copies (and
unlocked request files, finished or still being written) of this user once they are old enough.
Directories made by :func:`allocate_directory` for in-place uploads carry no marker and are never swept.

**Depth does not matter.** Copies are removed, and abandoned ones swept, by
:func:`gobbler_sdk._treewalk.remove_tree`, which neither recurses nor builds long paths, so a tree
thousands of levels deep is removed like any other (``shutil.rmtree`` raises :class:`RecursionError`,
which no ``except OSError`` catches).

**Nothing is left out silently, and no name is mangled.** :func:`check_tree` returns, with the plan, every
path the upload leaves out (``..`` names, which the service never stores, and dotfiles under
``ignore_dot``) — :func:`warn_left_out` logs them at WARNING — and refuses file names that are not valid
UTF-8: the service would write them to the manifest with their bytes replaced by U+FFFD, so two such names
could become one manifest key, and no such version would ever validate or download.

Large files are copied on up to ``concurrency`` threads, since the kernel copies them without holding the
interpreter lock. Small files are copied on the calling thread while each takes a few microseconds, where
threads would only add contention for that lock; if they turn out to take longer (waiting on a network or
synchronous file system, or simply many bytes each), the rest are spread over the threads in runs of
neighbouring files.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import posixpath
import secrets
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ._log import logger
from ._progress import ProgressCallback, Tracker
from ._treewalk import remove_tree
from .errors import ConfigurationError, IntegrityError, InvalidNameError, InvalidRequestError

__all__ = [
    "ABANDONED_AFTER",
    "COPY_MARKER",
    "DIRECTORY_MODE",
    "FILE_MODE",
    "WRITING_PREFIX",
    "StagingCopy",
    "allocate_directory",
    "check_tree",
    "copy_plan",
    "create_exclusive",
    "is_direct_child",
    "stage_copy",
    "sweep_abandoned",
    "warn_left_out",
]

#: Modes of everything the client creates in staging, set explicitly (the service account must read it,
#: nobody else may write it).
DIRECTORY_MODE = 0o755
FILE_MODE = 0o644
#: Age after which an upload sweeps this user's abandoned copies and request files (seconds).
ABANDONED_AFTER = 24 * 60 * 60.0
#: Marker file inside each private copy, locked by the uploading process for the copy's lifetime.
COPY_MARKER = "..gobbler-sdk-copy.lock"
#: Start of a request file's name while it is being written (it is renamed to ``request-...`` once
#: complete). The service acts only on names starting with ``request-``, so it never reads a half-written
#: request, even when someone else posts the name.
WRITING_PREFIX = "writing-request-"

#: Files from this size on are copied each on a thread of its own; smaller ones are copied in runs.
_LARGE_FILE = 1 << 20
#: Small files copied (and timed) at a time on the calling thread.
_PROBE_FILES = 64
#: Average time per small file above which threads pay off (measured: local copies of 1-4 KiB take ~10 µs).
_SLOW_FILE_SECONDS = 100e-6
#: Consecutive slow probes before the rest goes to threads. One probe is slow whenever another process
#: had the CPU for a few milliseconds; with a single probe deciding, a 10,000- or 100,000-file copy on 2
#: busy cores went to 8 threads every time, and they copied 1.3x to 1.5x slower than this thread.
_SLOW_PROBES = 3
#: Bytes asked of the kernel per copy call: large enough to be few calls, small enough to stay interruptible.
_KERNEL_CHUNK = 64 << 20
#: Buffer of the plain read/write copy.
_READ_CHUNK = 1 << 20
#: Offending entries named in the error message (and left-out paths in the warning) at most.
_SHOWN_PROBLEMS = 20
#: Directories entered through followed symlinks at most (a bound on trees that loop back on themselves).
_MAX_FOLLOWED_DIRECTORIES = 10_000
#: Longest path the system calls take (Linux's PATH_MAX, the terminating NUL included). The scan reads
#: paths whole, and neither service can store a tree whose paths do not fit either.
_PATH_MAX = 4096

_NOFOLLOW = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)

#: Copies the next chunk from one descriptor's position to the other's; returns the bytes copied (0 at end).
_Step = Callable[[int, int], int]
_FileItem = tuple[str, int]


def create_exclusive(path: str | os.PathLike[str], *, dir_fd: int | None = None) -> int:
    """Create a new file (never an existing one, never through a symlink) with mode ``0644`` exactly.

    Returns:
        The descriptor, open for writing.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, FILE_MODE, dir_fd=dir_fd)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _make_directory(path: str | os.PathLike[str], *, dir_fd: int | None = None) -> int:
    """Create a directory that did not exist, check it is ours, set it to ``0755``; return a descriptor."""
    os.mkdir(path, DIRECTORY_MODE, dir_fd=dir_fd)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            raise ConfigurationError(f"{path} was replaced by another user's directory while being created")
        os.fchmod(fd, DIRECTORY_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _staging_error(staging: Path, exc: OSError) -> ConfigurationError:
    return ConfigurationError(
        f"cannot create a directory in staging {staging}: {exc.strerror or exc}. The staging directory "
        "must exist and be writable by every user of the service (mode 1777, as the service's "
        "administrator sets it up)"
    )


def allocate_directory(staging: Path, *, prefix: str = "upload-", create: bool = True) -> Path:
    """Reserve a fresh directory name directly inside staging.

    The directory is created with mode ``0755`` exactly (whatever the umask), so the service account can
    read it and nobody else can write in it.

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
                os.close(_make_directory(path))
            except FileExistsError:
                continue
            except OSError as exc:
                raise _staging_error(staging, exc) from exc
            return path
        if not os.path.lexists(path):
            return path


class StagingCopy:
    """A private directory in staging holding one upload's copy, marked as in use until :meth:`remove`.

    Args:
        staging: The staging directory.

    Attributes:
        path: The directory.
        fd: A descriptor of it (everything inside is created relative to it).

    Raises:
        ConfigurationError: When no directory can be created in staging.
    """

    def __init__(self, staging: Path) -> None:
        while True:
            path = staging / f"upload-{secrets.token_hex(8)}"
            try:
                fd = _make_directory(path)
            except FileExistsError:
                continue
            except OSError as exc:
                raise _staging_error(staging, exc) from exc
            break
        self.path = path
        self.fd = fd
        try:
            self._lock = create_exclusive(COPY_MARKER, dir_fd=fd)
            fcntl.flock(self._lock, fcntl.LOCK_EX)
        except BaseException:
            _remove_own(path, fd)
            os.close(fd)
            raise

    def remove(self) -> None:
        """Delete the copy (the lock is held until it is gone, so no sweep races the removal).

        Failures are logged, never raised: whatever stays is swept once abandoned.
        """
        try:
            _remove_own(self.path, self.fd)
        finally:
            os.close(self.fd)
            os.close(self._lock)


def _remove_own(path: Path, fd: int) -> None:
    """Remove the directory ``path`` of staging, if it still is the one open as ``fd``; log what stays."""
    try:
        parent = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW)
    except OSError as exc:
        logger.warning("cannot remove the staging copy %s: %s", path, exc)
        return
    try:
        try:
            same = os.path.samestat(os.stat(path.name, dir_fd=parent, follow_symlinks=False), os.fstat(fd))
        except FileNotFoundError:
            return  # already gone
        except OSError:
            same = False
        if not same:
            logger.warning("not removing %s: it is no longer this upload's copy", path)
            return
        removal = remove_tree(parent, path.name, sizes=False)
    finally:
        os.close(parent)
    if removal.failures:
        where, failure = removal.failures[0]
        logger.warning(
            "%d entries of the staging copy %s could not be removed (first: %s: %s); they will be swept "
            "once abandoned",
            len(removal.failures),
            path,
            where,
            failure.strerror or failure,
        )


def is_direct_child(directory: Path, staging: Path) -> bool:
    """Whether ``directory`` is a real (non-symlink) directory directly inside ``staging``."""
    if directory.is_symlink() or not directory.is_dir():
        return False
    return os.path.realpath(directory.parent) == os.path.realpath(staging)


# ---------------------------------------------------------------------- sweeping abandoned copies


def sweep_abandoned(staging: Path, *, older_than: float) -> int:
    """Remove this user's abandoned upload copies and request files from staging.

    A copy is abandoned when it is a real directory directly in staging named ``upload-*``, owned by this
    user, holding the marker :data:`COPY_MARKER` (owned by this user) that no process has locked — the
    uploading process holds an ``flock`` on it until the copy is removed, and the kernel releases it when
    that process dies, even by ``kill -9`` — and neither it nor its marker changed for ``older_than``
    seconds. A request file (``request-*``) is abandoned when it is a regular file owned by this user, not
    locked (the submitting process locks it until it has the answer) and older than ``older_than``; so is
    one a killed process left half-written (``writing-request-*``).
    Anything else — other users' entries, in-place upload directories without the marker, anything on a
    file system where the lock cannot be taken — is left alone. Failures are logged, never raised.

    Args:
        staging: The staging directory.
        older_than: Minimum age in seconds (the age guards file systems where locks are not shared
            between machines).

    Returns:
        How many copies and request files were removed.
    """
    removed = 0
    try:
        staging_fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        logger.debug("cannot open staging %s to sweep it: %s", staging, exc)
        return 0
    try:
        try:
            names = os.listdir(staging_fd)
        except OSError as exc:
            logger.debug("cannot list staging %s to sweep it: %s", staging, exc)
            return 0
        cutoff = time.time() - older_than
        me = os.geteuid()
        for name in names:
            try:
                info = os.stat(name, dir_fd=staging_fd, follow_symlinks=False)
                if info.st_uid != me:
                    continue
                if name.startswith("upload-") and stat.S_ISDIR(info.st_mode):
                    removed += _sweep_copy(staging_fd, name, info, cutoff)
                elif name.startswith(("request-", WRITING_PREFIX)) and stat.S_ISREG(info.st_mode):
                    removed += _sweep_request(staging_fd, name, cutoff)
            except OSError as exc:
                logger.debug("not sweeping %s: %s", staging / name, exc)
    finally:
        os.close(staging_fd)
    if removed:
        logger.info("removed %d abandoned upload copies and request files from %s", removed, staging)
    return removed


@contextlib.contextmanager
def _unlocked(path: str | os.PathLike[str], *, dir_fd: int | None = None) -> Iterator[os.stat_result | None]:
    """The status of a regular file of this user nobody holds a lock on, locked while in the block."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW, dir_fd=dir_fd)
    except OSError:
        yield None
        return
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            yield None
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            # Held by a live process (EWOULDBLOCK), or locks do not work here: in use either way.
            yield None
            return
        yield info
    finally:
        os.close(fd)


def _sweep_copy(staging_fd: int, name: str, info: os.stat_result, cutoff: float) -> int:
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW, dir_fd=staging_fd)
    try:
        if not os.path.samestat(info, os.fstat(fd)):
            return 0
        with _unlocked(COPY_MARKER, dir_fd=fd) as marker:
            if marker is None or max(info.st_mtime, marker.st_mtime) > cutoff:
                return 0
            removal = remove_tree(staging_fd, name, sizes=False)
            if removal.failures:
                where, exc = removal.failures[0]
                logger.debug("sweeping %s left %d entries (%s: %s)", name, len(removal.failures), where, exc)
                return 0
            return 1
    finally:
        os.close(fd)


def _sweep_request(staging_fd: int, name: str, cutoff: float) -> int:
    with _unlocked(name, dir_fd=staging_fd) as request:
        if request is None or request.st_mtime > cutoff:
            return 0
        os.unlink(name, dir_fd=staging_fd)
        return 1


# ---------------------------------------------------------------------- the scan


@dataclass
class _Plan:
    directories: list[str] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)
    files: list[_FileItem] = field(default_factory=list)
    #: Files reached through a symlink that is followed (opened without ``O_NOFOLLOW``).
    followed: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    #: Entries whose names are not valid UTF-8 (shown with backslash escapes); nothing below them is scanned.
    bad_names: list[str] = field(default_factory=list)
    #: Paths (relative to the source) the upload leaves out: ``..`` names, and dotfiles under
    #: ``ignore_dot`` (a directory stands for everything in it).
    left_out: list[str] = field(default_factory=list)


def _skip(name: str, ignore_dot: bool) -> bool:
    # ".." names are never uploaded by the service, and dotfiles are not when ignore_dot is set.
    return name.startswith("..") or (ignore_dot and name.startswith("."))


def _shown(path: str) -> str:
    """``path`` printable: bytes that are not UTF-8 (surrogate escapes in ``str``) as backslash escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _abbreviated(path: str) -> str:
    """A long path cut in its middle, so that an error message stays readable."""
    shown = _shown(path)
    return shown if len(shown) <= 160 else f"{shown[:100]}...{shown[-50:]}"


def _is_utf8(name: str) -> bool:
    # Names come from the file system with undecodable bytes as lone surrogates, which UTF-8 refuses.
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class _Scanner:
    """Walks a source tree into a :class:`_Plan`, noting every entry the service would refuse."""

    def __init__(
        self, source: Path, *, ignore_dot: bool, follow_symlinks: bool, registry: str | None
    ) -> None:
        self.source = source
        self.root = os.path.normpath(os.path.abspath(source))
        self.ignore_dot = ignore_dot
        self.follow = follow_symlinks
        self.registry = os.path.normpath(os.path.abspath(registry)) if registry else None
        self.plan = _Plan()
        self._followed_directories = 0

    def scan(self) -> _Plan:
        root_info = os.stat(self.source)
        pending: list[tuple[str, frozenset[tuple[int, int]]]] = [
            ("", frozenset({(root_info.st_dev, root_info.st_ino)}))
        ]
        while pending:
            relative, ancestors = pending.pop()
            directory = self.source / relative if relative else self.source
            try:
                with os.scandir(directory) as scan:
                    entries = list(scan)
            except OSError as exc:
                self.plan.problems.append(f"{directory}: cannot be listed ({exc.strerror or exc})")
                continue
            for entry in entries:
                path = f"{relative}/{entry.name}" if relative else entry.name
                if _skip(entry.name, self.ignore_dot):
                    self.plan.left_out.append(path)
                    continue
                if not _is_utf8(entry.name):
                    self.plan.bad_names.append(_shown(entry.path))
                    continue
                length = len(os.fsencode(entry.path))
                if length >= _PATH_MAX:
                    # Only the first such entry of a branch is named: nothing below it is scanned.
                    self.plan.problems.append(
                        f"{_abbreviated(entry.path)}: a path of {length:,} bytes, longer than the system "
                        f"allows ({_PATH_MAX:,} bytes with its end)"
                    )
                    continue
                self._entry(entry, path, ancestors, pending)
        return self.plan

    def _entry(
        self,
        entry: os.DirEntry[str],
        path: str,
        ancestors: frozenset[tuple[int, int]],
        pending: list[tuple[str, frozenset[tuple[int, int]]]],
    ) -> None:
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            self.plan.directories.append(path)
            pending.append((path, ancestors | {(info.st_dev, info.st_ino)}))
        elif stat.S_ISREG(info.st_mode):
            self._file(entry.path, path, info)
        elif stat.S_ISLNK(info.st_mode):
            self._link(entry.path, path, os.readlink(entry.path), ancestors, pending)
        else:
            self.plan.problems.append(
                f"{entry.path}: not a file, directory or symlink (FIFO, device or socket)"
            )

    def _file(self, full: str, path: str, info: os.stat_result) -> None:
        if not os.access(full, os.R_OK):
            self.plan.problems.append(f"{full}: cannot be read")
            return
        self.plan.files.append((path, info.st_size))

    def _link(
        self,
        full: str,
        path: str,
        text: str,
        ancestors: frozenset[tuple[int, int]],
        pending: list[tuple[str, frozenset[tuple[int, int]]]],
    ) -> None:
        # The service judges a link by its lexical target (its text, not what it resolves to), as done here.
        target = os.path.normpath(
            text if os.path.isabs(text) else os.path.join(self.root, os.path.dirname(path), text)
        )
        if self.registry is not None and _inside(target, self.registry) and not _inside(target, self.root):
            # A registry link: the service resolves it against its manifests (the registry may not even be
            # mounted here), and stores a link instead of the bytes.
            self.plan.links.append((path, _link_text(self.root, path, text)))
            return
        problem = self._link_problem(full, target)
        if problem is None:
            self.plan.links.append((path, _link_text(self.root, path, text)))
            return
        if not self.follow:
            self.plan.problems.append(f"{full}: {problem}")
            return
        try:
            info = os.stat(full)
        except OSError as exc:
            self.plan.problems.append(f"{full}: a dangling symlink ({exc.strerror or exc})")
            return
        if stat.S_ISREG(info.st_mode):
            self.plan.followed.add(path)
            self._file(full, path, info)
        elif stat.S_ISDIR(info.st_mode):
            key = (info.st_dev, info.st_ino)
            self._followed_directories += 1
            if key in ancestors or self._followed_directories > _MAX_FOLLOWED_DIRECTORIES:
                self.plan.problems.append(f"{full}: a symlink that loops back to a directory above it")
                return
            self.plan.directories.append(path)
            pending.append((path, ancestors | {key}))
        else:
            self.plan.problems.append(f"{full}: points to something that is not a file or directory")

    def _link_problem(self, full: str, target: str) -> str | None:
        """What the service would say about a link kept as a link, or ``None`` when it accepts it."""
        try:
            info = os.stat(full)
        except OSError as exc:
            return f"a dangling symlink ({exc.strerror or exc})"
        if stat.S_ISDIR(info.st_mode):
            return "a symlink to a directory (the service accepts links to files only)"
        if not stat.S_ISREG(info.st_mode):
            return "a symlink to something that is not a regular file"
        if _inside(target, self.root):
            inner = os.path.relpath(target, self.root).split(os.sep)
            if any(_skip(part, self.ignore_dot) for part in inner):
                return "a symlink to a file that is not uploaded (a '..' name, or a dotfile with ignore_dot)"
            return None
        where = f"the tree or the registry {self.registry}" if self.registry else "the tree"
        return f"a symlink to {target}, outside {where}"


def _link_text(root: str, path: str, text: str) -> str:
    """Make links inside the tree relative and every other link absolute.

    The service judges link targets lexically against the staged copy, so an absolute link into the
    original tree would point outside it (and be refused) unless it is made relative here.
    """
    if os.path.isabs(text):
        target = os.path.normpath(text)
        if target.startswith(root + os.sep):
            return os.path.relpath(target, os.path.join(root, os.path.dirname(path)))
        return text
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), text))
    if joined == ".." or joined.startswith("../"):
        return os.path.normpath(os.path.join(root, os.path.dirname(path), text))
    return text


def _listing(items: list[str]) -> str:
    shown = sorted(items)[:_SHOWN_PROBLEMS]
    more = len(items) - len(shown)
    return "\n  " + "\n  ".join(shown) + (f"\n  ... and {more} more" if more else "")


def _entries(count: int) -> str:
    return f"{count} entr{'y' if count == 1 else 'ies'}"


def check_tree(
    source: Path,
    *,
    ignore_dot: bool,
    follow_symlinks: bool = False,
    registry: str | None = None,
    names_only: bool = False,
) -> _Plan:
    """Scan ``source`` and refuse it when it holds anything the service would refuse or mangle.

    Nothing is written. The plan lists, in ``left_out``, every path the upload will leave out (for
    :func:`warn_left_out`).

    Args:
        source: The tree to upload.
        ignore_dot: Leave out dotfiles and dot-directories.
        follow_symlinks: Plan to copy what refused symlinks point to instead of refusing them.
        registry: The registry's path, whose links are kept as links.
        names_only: Refuse only names that are not UTF-8, and leave every other judgement (in ``problems``)
            to the service: for a tree uploaded in place, which the service walks itself (its link
            whitelist included).

    Raises:
        InvalidNameError: When names are not valid UTF-8, listing them (and any other offending path).
        InvalidRequestError: Listing every offending path.
    """
    plan = _Scanner(source, ignore_dot=ignore_dot, follow_symlinks=follow_symlinks, registry=registry).scan()
    parts: list[str] = []
    if plan.bad_names:
        parts.append(
            f"{_entries(len(plan.bad_names))} with a name that is not valid UTF-8 (the service would record "
            "it with its bytes replaced by U+FFFD, so different names could become one and the version "
            "would never validate or download; rename them):" + _listing(plan.bad_names)
        )
    if plan.problems and not names_only:
        hint = "" if follow_symlinks else "; follow_symlinks=True uploads the targets of symlinks instead"
        parts.append(
            f"the service would refuse {_entries(len(plan.problems))}{hint}:" + _listing(plan.problems)
        )
    if parts:
        kind = InvalidNameError if plan.bad_names else InvalidRequestError
        raise kind(f"cannot upload {_shown(str(source))}: " + "\n".join(parts))
    return plan


def warn_left_out(source: Path, left_out: Sequence[str], *, what: str) -> None:
    """Log at WARNING, on one line, the paths an upload leaves out (the first twenty, quoted).

    Args:
        source: The uploaded directory.
        left_out: Paths relative to it (:func:`check_tree`'s ``plan.left_out``).
        what: The upload, e.g. ``"upload p/a/v1"``.
    """
    if not left_out:
        return
    reasons = []
    if any(os.path.basename(path).startswith("..") for path in left_out):
        reasons.append("names starting with '..' are never stored by the service")
    if any(not os.path.basename(path).startswith("..") for path in left_out):
        reasons.append("dotfiles are skipped with ignore_dot=True")
    shown = sorted(left_out)[:_SHOWN_PROBLEMS]
    more = f" and {len(left_out) - len(shown)} more" if len(left_out) > len(shown) else ""
    # One line, each path quoted by repr: a name with a newline or an escape sequence cannot forge lines.
    logger.warning(
        "%s: %s of %s not uploaded (%s): %s%s",
        what,
        _entries(len(left_out)),
        repr(_shown(str(source))),
        "; ".join(reasons),
        ", ".join(repr(_shown(path)) for path in shown),
        more,
    )


def stage_copy(
    source: Path,
    destination: Path | StagingCopy,
    *,
    ignore_dot: bool,
    concurrency: int,
    progress: bool | ProgressCallback | None = None,
    follow_symlinks: bool = False,
    registry: str | None = None,
) -> None:
    """Copy ``source`` into the (existing, empty) staging directory ``destination``.

    Args:
        source: The tree to upload.
        destination: A :class:`StagingCopy`, or an empty directory of this user.
        ignore_dot: Leave out dotfiles and dot-directories.
        concurrency: Threads copying files at most.
        progress: ``True`` for a terminal bar, or a callable receiving progress events.
        follow_symlinks: Copy what refused symlinks point to instead of refusing them.
        registry: The registry's path, whose links are kept as links.

    Raises:
        InvalidRequestError: For entries the service would refuse (nothing is copied then).
        IntegrityError: When a copy's size differs from its source's size at the time of the scan.
        OSError: When a copy fails.
    """
    plan = check_tree(source, ignore_dot=ignore_dot, follow_symlinks=follow_symlinks, registry=registry)
    if isinstance(destination, StagingCopy):
        copy_plan(source, destination.fd, plan, concurrency=concurrency, progress=progress)
        return
    fd = os.open(destination, os.O_RDONLY | os.O_DIRECTORY | _NOFOLLOW)
    try:
        if os.fstat(fd).st_uid != os.geteuid():
            raise ConfigurationError(f"{destination} belongs to another user")
        copy_plan(source, fd, plan, concurrency=concurrency, progress=progress)
    finally:
        os.close(fd)


def copy_plan(
    source: Path,
    root_fd: int,
    plan: _Plan,
    *,
    concurrency: int,
    progress: bool | ProgressCallback | None = None,
) -> None:
    """Copy what :func:`check_tree` planned into the empty directory open as ``root_fd``.

    Raises:
        IntegrityError: When a copy's size differs from its source's size at the time of the scan.
        OSError: When a copy fails (an existing name included: nothing is created over anything).
    """
    # Sorted, parents come before their children; each is new, so mkdir never meets an existing name.
    for directory in sorted(plan.directories):
        os.close(_make_directory(directory, dir_fd=root_fd))
    for path, text in plan.links:
        os.symlink(text, path, dir_fd=root_fd)

    tracker = Tracker(progress, "copy", len(plan.files), sum(size for _, size in plan.files))
    copier = _Copier(root_fd, plan.followed)
    source_root = os.fspath(source)

    def copy_files(files: list[_FileItem]) -> None:
        for path, size in files:
            _copy_checked(copier, source_root, path, size)
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
    for files of a few hundred KiB, whose copy the kernel does without the lock. Only several slow probes
    in a row count, since one alone may just have waited for the CPU. Returns the copies handed to the
    pool.
    """
    slow = 0
    for start in range(0, len(files), _PROBE_FILES):
        probe = files[start : start + _PROBE_FILES]
        began = time.perf_counter()
        copy_files(probe)
        slow = slow + 1 if (time.perf_counter() - began) / len(probe) > _SLOW_FILE_SECONDS else 0
        if slow >= _SLOW_PROBES:
            return [pool.submit(copy_files, run) for run in _runs(files[start + len(probe) :], concurrency)]
    return []


def _runs(files: list[_FileItem], count: int) -> list[list[_FileItem]]:
    """Cut ``files`` into at most ``count`` runs of neighbours (files of one directory stay together)."""
    count = max(1, min(count, len(files)))
    length = max(1, math.ceil(len(files) / count))
    return [files[start : start + length] for start in range(0, len(files), length)]


def _copy_checked(copier: _Copier, source_root: str, path: str, size: int) -> None:
    """Copy one file and check that exactly ``size`` bytes, the size seen by the scan, were copied."""
    copied = copier.copy(f"{source_root}/{path}", path)
    if copied != size:
        raise IntegrityError(f"copy of {source_root}/{path} has {copied} bytes instead of {size}")


class _Copier:
    """Copies files with the best method the file systems accept, dropping methods they refuse.

    ``copy_file_range`` keeps the bytes in the kernel and lets file systems share blocks or copy on the
    server; ``sendfile`` also keeps them in the kernel, across any pair of file systems; plain reads and
    writes work everywhere. A method that fails before copying anything is given up for the rest of the
    tree, so a tree crossing file systems pays for one refusal, not one per file.
    """

    def __init__(self, root_fd: int, followed: set[str]) -> None:
        self._steps: tuple[_Step, ...] = _AVAILABLE_STEPS
        self._lock = threading.Lock()
        self._root_fd = root_fd
        self._followed = followed

    def copy(self, source: str, target: str) -> int:
        """Copy ``source`` to the new file ``target`` (relative to the copy's root); return bytes copied.

        The source is opened without following a final symlink unless the scan chose to follow it, so a
        file swapped for a link after the scan is refused rather than read through.
        """
        flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
        if target not in self._followed:
            flags |= os.O_NOFOLLOW
        source_fd = os.open(source, flags)
        try:
            target_fd = create_exclusive(target, dir_fd=self._root_fd)
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
