"""Walking and removing directory trees of any depth, without recursion and without following symlinks.

``shutil.rmtree`` and ``os.fwalk`` recurse once per level, so a tree a little over a thousand levels deep
raises :class:`RecursionError` — which is not an :class:`OSError`, so ``except OSError`` lets it through —
and ``os.walk``'s paths pass ``PATH_MAX`` (4,096 bytes) long before that. Anyone who can write a directory
can make such a tree. The walk here keeps an explicit stack instead and reaches every directory by a name
relative to its parent's descriptor, so neither the depth nor the length of the paths matters.

Only one directory descriptor is open at a time (two while moving), so depth does not run into the limit
on open files either: going down opens the child ``O_NOFOLLOW``; going back up opens ``..`` and checks
that it is the very directory (device and inode) the walk came from. If it is not — another process moved
a directory while it was being walked — the walk stops with :class:`TreeChangedError` rather than carry on
somewhere else.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum

__all__ = ["Removal", "Step", "StepKind", "TreeChangedError", "remove_tree", "walk"]

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class TreeChangedError(OSError):
    """A directory was moved while a walk was inside it; the walk stopped there."""

    def __init__(self, path: str) -> None:
        super().__init__(errno.ESTALE, "a directory was moved while it was being walked", path)


class StepKind(Enum):
    """What a :class:`Step` reports."""

    #: An entry (file, symlink, directory, anything) of the current directory; ``dir_fd`` holds it.
    ENTRY = "entry"
    #: The walk went into a directory (the top included, with path ``""``); ``dir_fd`` is the directory.
    ENTER = "enter"
    #: The walk is done with a directory below the top; ``dir_fd`` is its parent again.
    LEAVE = "leave"


@dataclass(frozen=True)
class Step:
    """One step of :func:`walk`.

    Attributes:
        kind: What happened.
        path: The entry's path relative to the top, ``/``-separated (``""`` for the top itself).
        name: Its last component (``""`` for the top).
        info: Its ``lstat``.
        dir_fd: See :class:`StepKind`; valid only until the walk takes its next step.
    """

    kind: StepKind
    path: str
    name: str
    info: os.stat_result
    dir_fd: int


@dataclass
class _Frame:
    path: str
    name: str
    info: os.stat_result
    #: Names still to visit, in reverse order (the next one is last).
    names: list[str] = field(default_factory=list)


def _identity(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def _names(fd: int) -> list[str]:
    return sorted(os.listdir(fd), reverse=True)


def walk(top_fd: int, *, errors: list[tuple[str, OSError]] | None = None) -> Iterator[Step]:
    """Walk the tree below the directory open as ``top_fd``, top-down, depth-first, in name order.

    Symlinks are reported, never followed. A step's ``dir_fd`` may be used (to open, stat or unlink the
    entry by name) until the next step is asked for.

    Args:
        top_fd: Descriptor of the top directory (left open).
        errors: Where to note ``(path, error)`` for entries that cannot be examined or directories that
            cannot be entered or listed (the walk goes on without them); without it, such errors are raised.

    Yields:
        The steps.

    Raises:
        TreeChangedError: When a directory was moved while the walk was inside it.
        OSError: When something cannot be examined and ``errors`` is ``None``.
    """
    fd = os.dup(top_fd)
    try:
        top = _Frame("", "", os.fstat(fd))
        top.names = _names(fd)
        frames = [top]
        yield Step(StepKind.ENTER, "", "", top.info, fd)
        while frames:
            frame = frames[-1]
            if not frame.names:
                frames.pop()
                if not frames:
                    break
                up = os.open("..", _DIRECTORY, dir_fd=fd)
                if _identity(os.fstat(up)) != _identity(frames[-1].info):
                    os.close(up)
                    raise TreeChangedError(frame.path)
                os.close(fd)
                fd = up
                yield Step(StepKind.LEAVE, frame.path, frame.name, frame.info, fd)
                continue
            name = frame.names.pop()
            path = f"{frame.path}/{name}" if frame.path else name
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed since the listing
            except OSError as exc:
                if errors is None:
                    raise
                errors.append((path, exc))
                continue
            yield Step(StepKind.ENTRY, path, name, info, fd)
            if not stat.S_ISDIR(info.st_mode):
                continue
            try:
                child = os.open(name, _DIRECTORY, dir_fd=fd)
            except FileNotFoundError:
                continue  # removed by the consumer of the step, or by someone else
            except OSError as exc:
                if errors is None:
                    raise
                errors.append((path, exc))
                continue
            try:
                if _identity(os.fstat(child)) != _identity(info):
                    raise TreeChangedError(path)
                names = _names(child)
            except OSError as exc:
                os.close(child)
                if errors is None or isinstance(exc, TreeChangedError):
                    raise
                errors.append((path, exc))
                continue
            os.close(fd)
            fd = child
            frames.append(_Frame(path, name, info, names))
            yield Step(StepKind.ENTER, path, name, info, fd)
    finally:
        os.close(fd)


@dataclass
class Removal:
    """What :func:`remove_tree` removed and what it could not.

    Attributes:
        files: Non-directories removed.
        size: Bytes of the regular files among them.
        failures: ``(path relative to the parent, error)`` for what stayed.
    """

    files: int = 0
    size: int = 0
    failures: list[tuple[str, OSError]] = field(default_factory=list)


def remove_tree(parent_fd: int, name: str) -> Removal:
    """Remove ``name`` from the directory open as ``parent_fd`` — a file, a symlink or a whole tree.

    Never follows a symlink, never recurses, and goes on past what cannot be removed, noting it.

    Args:
        parent_fd: Descriptor of the directory holding ``name`` (left open).
        name: The entry to remove.

    Returns:
        What was removed and what was not. A missing ``name`` removes nothing and fails nothing.
    """
    done = Removal()
    try:
        info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return done
    except OSError as exc:
        done.failures.append((name, exc))
        return done
    if not stat.S_ISDIR(info.st_mode):
        _unlink(parent_fd, name, name, info, done)
        return done
    try:
        top = os.open(name, _DIRECTORY, dir_fd=parent_fd)
    except OSError as exc:
        done.failures.append((name, exc))
        return done
    errors: list[tuple[str, OSError]] = []
    try:
        for step in walk(top, errors=errors):
            where = f"{name}/{step.path}"
            if step.kind is StepKind.ENTRY and not stat.S_ISDIR(step.info.st_mode):
                _unlink(step.dir_fd, step.name, where, step.info, done)
            elif step.kind is StepKind.LEAVE:
                _rmdir(step.dir_fd, step.name, where, done)
    except TreeChangedError as exc:
        done.failures.append((name, exc))
    finally:
        os.close(top)
    done.failures.extend((f"{name}/{path}", exc) for path, exc in errors)
    _rmdir(parent_fd, name, name, done)
    return done


def _unlink(fd: int, name: str, where: str, info: os.stat_result, done: Removal) -> None:
    try:
        os.unlink(name, dir_fd=fd)
    except FileNotFoundError:
        return
    except OSError as exc:
        done.failures.append((where, exc))
        return
    done.files += 1
    done.size += info.st_size if stat.S_ISREG(info.st_mode) else 0


def _rmdir(fd: int, name: str, where: str, done: Removal) -> None:
    try:
        os.rmdir(name, dir_fd=fd)
    except FileNotFoundError:
        return
    except OSError as exc:
        # Not empty because something inside could not be removed: that failure is already noted.
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not done.failures:
            done.failures.append((where, exc))
