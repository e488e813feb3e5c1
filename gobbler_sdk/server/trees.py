"""Removing directory trees at any depth, never following a symbolic link.

Python's ``shutil.rmtree`` recurses once per directory level, so a chain of about a thousand nested
directories raises ``RecursionError`` (which ``except OSError`` does not catch), and it names entries by
full paths, which fail with ``ENAMETOOLONG`` beyond ``PATH_MAX``. :func:`remove_tree` instead works from
one open directory at a time: every name is resolved relative to that descriptor, a directory is entered
with ``O_NOFOLLOW`` and must be the inode its parent listed, and the way back up is ``..`` checked
against the inode recorded on the way down. Memory grows with the number of names still to remove, and
exactly one descriptor is open however deep the tree is (so a deep tree cannot exhaust the open-file
limit either).

A tree that someone else can change while it is removed (an old staging directory) cannot redirect the
removal: a directory swapped for a symlink is unlinked, not entered, and a directory moved away while it
is being emptied stops the removal with an error instead of continuing in its new place.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field

from .errors import RequestError

__all__ = ["delete_tree", "remove_tree"]

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


@dataclass
class _Level:
    """One directory on the way down: its name in its parent, its inode and the names left in it."""

    name: str
    inode: tuple[int, int]
    pending: list[tuple[str, bool]] = field(default_factory=list)


def _inode(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def _enter(parent_fd: int, name: str, expected: tuple[int, int]) -> int:
    """Open the directory ``name`` of ``parent_fd``; it must still be the inode that was examined."""
    fd = os.open(name, _DIRECTORY_FLAGS, dir_fd=parent_fd)
    try:
        if _inode(os.fstat(fd)) != expected:
            raise OSError(errno.ESTALE, "directory was replaced while it was being removed", name)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _entries(fd: int) -> list[tuple[str, bool]]:
    """Names in the directory ``fd`` and whether each was a directory (from the listing, without stat)."""
    with os.scandir(fd) as listing:
        return [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in listing]


def remove_tree(path: str) -> None:
    """Remove ``path`` and everything beneath it, at any depth; a missing ``path`` is not an error.

    A symbolic link (at the top or inside) is removed itself, never followed. Removal goes on past an
    entry that cannot be removed, so that as much as possible is gone, and the first problem is raised
    at the end.

    Args:
        path: The file, symbolic link or directory to remove. Its parent must be a trusted directory.

    Raises:
        OSError: The first entry that could not be removed (its ``filename`` is the path given, or a
            name relative to the directory being emptied when deeper); ``ESTALE`` when a directory was
            replaced or moved while it was being emptied.
    """
    parent, name = os.path.split(os.path.normpath(path))
    parent_fd = os.open(parent or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _remove_entry(parent_fd, name, path)
    finally:
        os.close(parent_fd)


def delete_tree(path: str) -> None:
    """:func:`remove_tree` for a registry directory that an action deletes.

    Raises:
        RequestError: 500 when something cannot be removed.
    """
    try:
        remove_tree(path)
    except OSError as exc:
        raise RequestError(500, f"failed to delete {path!r}; {exc}") from exc


def _remove_entry(parent_fd: int, name: str, path: str) -> None:
    try:
        info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        if not stat.S_ISDIR(info.st_mode):
            os.unlink(name, dir_fd=parent_fd)
            return
    except FileNotFoundError:
        return
    except OSError as exc:
        exc.filename = path
        raise
    try:
        _empty(parent_fd, name, _inode(info))
    except OSError as exc:
        if exc.filename is None or exc.filename == name:
            exc.filename = path
        raise
    try:
        os.rmdir(name, dir_fd=parent_fd)
    except FileNotFoundError:
        pass
    except OSError as exc:
        exc.filename = path
        raise


def _empty(top_fd: int, top_name: str, top_inode: tuple[int, int]) -> None:
    """Remove everything inside the directory ``top_name`` of ``top_fd`` (not the directory itself)."""
    try:
        fd = _enter(top_fd, top_name, top_inode)
    except FileNotFoundError:
        return
    first: OSError | None = None
    try:
        stack = [_Level(top_name, top_inode, _entries(fd))]
        while stack:
            level = stack[-1]
            if level.pending:
                child, is_dir = level.pending.pop()
                try:
                    if not is_dir:
                        os.unlink(child, dir_fd=fd)
                        continue
                    info = os.stat(child, dir_fd=fd, follow_symlinks=False)
                    if not stat.S_ISDIR(info.st_mode):
                        # Replaced since the listing (by a symlink, say): removed, never entered.
                        os.unlink(child, dir_fd=fd)
                        continue
                    child_fd = _enter(fd, child, _inode(info))
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    first = first or exc
                    continue
                os.close(fd)
                fd = child_fd
                try:
                    entries = _entries(fd)
                except OSError as exc:
                    first = first or exc
                    entries = []
                stack.append(_Level(child, _inode(info), entries))
                continue
            stack.pop()
            if not stack:
                break
            # Back up through "..", which must be the directory this one was entered from: if the
            # subtree was moved meanwhile, ".." is somewhere else, and nothing there may be touched.
            up = os.open("..", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = up
            if _inode(os.fstat(fd)) != stack[-1].inode:
                raise OSError(errno.ESTALE, "directory was moved while it was being removed", level.name)
            try:
                os.rmdir(level.name, dir_fd=fd)
            except FileNotFoundError:
                pass
            except OSError as exc:
                first = first or exc
    finally:
        os.close(fd)
    if first is not None:
        raise first
