"""Checking a directory listing before anything is written, and copying files into a caller's directory.

A listing is checked whole first (every path storable, no path both a file and a directory). ``local_dir``
copies the selected files out of wherever the transport keeps them (the cache, a mounted registry) into a
directory of the caller's: a copy-on-write clone where the filesystem supports it, else a real copy, never a
link into the cache, which a prune may delete and which an edit of the copy would silently change.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ._atomic import temp_name
from ._cache import TEMP_PREFIX, md5_of_fd, open_directory_nofollow, storage_error
from ._filecopy import copy_descriptor
from ._pathsafety import checked_relative
from ._records import Entry
from .errors import IntegrityError, UnsafePathError

__all__ = ["check_listing", "copy_into", "is_internal"]


def is_internal(relative: str) -> bool:
    """Whether a path names one of the registry's own ``..`` files (or lies below a ``..`` directory)."""
    return any(part.startswith("..") for part in relative.split("/"))


def check_listing(listing: list[str], where: str) -> None:
    """Refuse a listing that the cache could not hold, before anything is downloaded.

    Raises:
        UnsafePathError: For an unsafe or over-long path, or a path that is both a file and a directory.
    """
    files: set[str] = set()
    directories: set[str] = set()
    parents: set[str] = set()
    for item in listing:
        path = item.rstrip("/")
        checked_relative(path)
        # A name of at most 63 characters cannot take more than 255 bytes: only longer ones are measured.
        if len(path) > 63 and any(len(os.fsencode(part)) > 255 for part in path.split("/")):
            raise UnsafePathError(f"{where}: refusing {path!r}: a name longer than 255 bytes")
        (directories if item.endswith("/") else files).add(path)
        # Every directory above it, stopping at the first one already walked (the rest was walked then).
        parent = path.rpartition("/")[0]
        while parent and parent not in parents:
            parents.add(parent)
            parent = parent.rpartition("/")[0]
    clash = sorted(files & (directories | parents))
    if clash:
        raise UnsafePathError(f"{where}: {clash[0]!r} is listed both as a file and as a directory")


def copy_into(
    local_dir: Path,
    items: list[tuple[str, str, Entry | None]],
    open_source: Callable[[str], BinaryIO],
    *,
    overwrite: bool,
    check_md5: bool,
    verify: bool = True,
) -> Path:
    """Place a copy of every item in ``local_dir`` (created if needed); return ``local_dir``.

    Args:
        local_dir: The caller's directory.
        items: ``(path below local_dir, registry path, entry)``, directories with a trailing ``/``.
        open_source: Opens a registry path's bytes for reading (the transport's ``open``).
        overwrite: Copy again even files that already match their entries.
        check_md5: Hash each copy against its entry (when the source was not just verified).
        verify: Hash a file already in ``local_dir`` before keeping it; without it, its size decides.

    Raises:
        IntegrityError: When a copy does not match its manifest entry (it is removed).
        UnsafePathError: When a symlink or a file is in the way in ``local_dir``.
    """
    where = str(local_dir)
    try:
        local_dir.mkdir(parents=True, exist_ok=True)
        root = os.open(local_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise storage_error(exc, f"copy into {local_dir}", where) from exc
    try:
        for path, registry_path, entry in items:
            parts = path.rstrip("/").split("/")
            if path.endswith("/"):
                os.close(open_directory_nofollow(root, parts, create=True, what=path, where=where))
                continue
            directory = open_directory_nofollow(root, parts[:-1], create=True, what=path, where=where)
            try:
                _copy_one(
                    directory, parts[-1], registry_path, entry, open_source, overwrite, check_md5, verify
                )
            finally:
                os.close(directory)
    finally:
        os.close(root)
    return local_dir


def _matches(fd: int, entry: Entry | None, md5: bool) -> bool:
    return (
        entry is not None
        and os.fstat(fd).st_size == entry.size
        and (not md5 or md5_of_fd(fd) == entry.md5sum)
    )


def _copy_one(
    directory: int,
    name: str,
    registry_path: str,
    entry: Entry | None,
    open_source: Callable[[str], BinaryIO],
    overwrite: bool,
    check_md5: bool,
    verify: bool,
) -> None:
    if not overwrite:
        with contextlib.suppress(OSError):
            existing = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=directory
            )
            try:
                if _matches(existing, entry, verify):
                    return
            finally:
                os.close(existing)
    source = open_source(registry_path)
    temporary = os.path.basename(temp_name("", TEMP_PREFIX, ".part"))
    try:
        target = os.open(
            temporary,
            os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o666,
            dir_fd=directory,
        )
        try:
            _copy_stream(source, target)
            if entry is not None and (
                os.fstat(target).st_size != entry.size or (check_md5 and md5_of_fd(target) != entry.md5sum)
            ):
                raise IntegrityError(f"copy of {registry_path}: the bytes do not match the manifest")
        finally:
            os.close(target)
        os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
    except OSError as exc:
        raise storage_error(exc, f"copy {registry_path}", name) from exc
    finally:
        source.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=directory)


def _copy_stream(source: BinaryIO, target: int) -> None:
    """Copy an opened file into ``target``.

    Descriptor to descriptor when it has one (a clone where the filesystem can), else through Python: a
    transport may hand out any readable stream.
    """
    try:
        fd = source.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        with open(target, "wb", closefd=False) as sink:
            shutil.copyfileobj(source, sink)
        return
    copy_descriptor(fd, target, os.fstat(fd).st_size)
