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


class Step:
    """One step of :func:`walk`.

    Attributes:
        kind: What happened.
        path: The entry's path relative to the top, ``/``-separated (``""`` for the top itself).
        name: Its last component (``""`` for the top).
        is_dir: Whether it is a directory (not a symlink to one), as the listing said.
        dir_fd: See :class:`StepKind`; valid only until the walk takes its next step.
    """

    __slots__ = ("_info", "dir_fd", "is_dir", "kind", "name", "path")

    def __init__(
        self,
        kind: StepKind,
        path: str,
        name: str,
        is_dir: bool,
        dir_fd: int,
        info: os.stat_result | None = None,
    ) -> None:
        self.kind = kind
        self.path = path
        self.name = name
        self.is_dir = is_dir
        self.dir_fd = dir_fd
        self._info = info

    @property
    def info(self) -> os.stat_result:
        """The entry's ``lstat``, asked of the system only when wanted (during this step).

        Raises:
            OSError: When it cannot be had (the entry is gone, say).
        """
        if self._info is None:
            self._info = os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
        return self._info


@dataclass
class _Frame:
    path: str
    name: str
    info: os.stat_result
    #: ``(name, is a directory)`` still to visit, in reverse order (the next one is last).
    names: list[tuple[str, bool]] = field(default_factory=list)


def _identity(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def _names(fd: int) -> list[tuple[str, bool]]:
    # The listing's own file types (d_type) spare a stat per entry; where the file system gives none,
    # DirEntry asks for it while the descriptor is still the directory's.
    with os.scandir(fd) as entries:
        found = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in entries]
    return sorted(found, reverse=True)


def walk(top_fd: int, *, errors: list[tuple[str, OSError]] | None = None) -> Iterator[Step]:
    """Walk the tree below the directory open as ``top_fd``, top-down, depth-first, in name order.

    Symlinks are reported, never followed. A step's ``dir_fd`` may be used (to open, stat or unlink the
    entry by name) until the next step is asked for.

    Args:
        top_fd: Descriptor of the top directory (left open).
        errors: Where to note ``(path, error)`` for directories that cannot be entered or listed (the walk
            goes on without them); without it, such errors are raised.

    Yields:
        The steps.

    Raises:
        TreeChangedError: When a directory was moved while the walk was inside it.
        OSError: When a directory cannot be entered or listed and ``errors`` is ``None``.
    """
    fd = os.dup(top_fd)
    try:
        top = _Frame("", "", os.fstat(fd))
        top.names = _names(fd)
        frames = [top]
        yield Step(StepKind.ENTER, "", "", True, fd, top.info)
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
                yield Step(StepKind.LEAVE, frame.path, frame.name, True, fd, frame.info)
                continue
            name, is_dir = frame.names.pop()
            path = f"{frame.path}/{name}" if frame.path else name
            yield Step(StepKind.ENTRY, path, name, is_dir, fd)
            if not is_dir:
                continue
            try:
                # O_NOFOLLOW | O_DIRECTORY: what is entered is a real directory at that name, now.
                child = os.open(name, _DIRECTORY, dir_fd=fd)
            except FileNotFoundError:
                continue  # removed by the consumer of the step, or by someone else
            except OSError as exc:
                if errors is None:
                    raise
                errors.append((path, exc))
                continue
            try:
                info = os.fstat(child)
                names = _names(child)
            except OSError as exc:
                os.close(child)
                if errors is None:
                    raise
                errors.append((path, exc))
                continue
            os.close(fd)
            fd = child
            frames.append(_Frame(path, name, info, names))
            yield Step(StepKind.ENTER, path, name, True, fd, info)
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


def remove_tree(parent_fd: int, name: str, *, sizes: bool = True) -> Removal:
    """Remove ``name`` from the directory open as ``parent_fd`` — a file, a symlink or a whole tree.

    Never follows a symlink, never recurses, and goes on past what cannot be removed, noting it.

    Args:
        parent_fd: Descriptor of the directory holding ``name`` (left open).
        name: The entry to remove.
        sizes: Add up the bytes of the files removed (one ``lstat`` each; without it ``size`` stays 0).

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
        _unlink(Step(StepKind.ENTRY, name, name, False, parent_fd, info), name, done, sizes=sizes)
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
            if step.kind is StepKind.ENTRY and not step.is_dir:
                _unlink(step, where, done, sizes=sizes)
            elif step.kind is StepKind.LEAVE:
                _rmdir(step.dir_fd, step.name, where, done)
    except TreeChangedError as exc:
        done.failures.append((name, exc))
    finally:
        os.close(top)
    done.failures.extend((f"{name}/{path}", exc) for path, exc in errors)
    _rmdir(parent_fd, name, name, done)
    return done


def _unlink(step: Step, where: str, done: Removal, *, sizes: bool) -> None:
    try:
        size = step.info.st_size if sizes and stat.S_ISREG(step.info.st_mode) else 0
        os.unlink(step.name, dir_fd=step.dir_fd)
    except FileNotFoundError:
        return
    except OSError as exc:
        done.failures.append((where, exc))
        return
    done.files += 1
    done.size += size


def _rmdir(fd: int, name: str, where: str, done: Removal) -> None:
    try:
        os.rmdir(name, dir_fd=fd)
    except FileNotFoundError:
        return
    except OSError as exc:
        # Not empty because something inside could not be removed: that failure is already noted.
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not done.failures:
            done.failures.append((where, exc))
