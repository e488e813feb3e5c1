"""Directory chains deeper than Python's recursion limit, and optionally deeper than ``PATH_MAX``.

Such a chain cannot be made or removed by full paths, so it is built one level at a time relative to an
open directory descriptor, and removed with ``rm -rf`` (which walks iteratively and relative to
descriptors), not with anything under test.
"""

from __future__ import annotations

import os
import subprocess
import tempfile

# Longest path (in bytes, without the terminating NUL) the kernel accepts is PATH_MAX - 1.
PATH_MAX = os.pathconf("/", "PC_PATH_MAX")

LEAF = "leaf.txt"
LEAF_CONTENT = b"at the bottom\n"


def chain(
    parent: str | os.PathLike[str],
    name: str,
    depth: int,
    segment: str = "d",
    *,
    link_to: str | os.PathLike[str] | None = None,
) -> str:
    """Create ``parent/name/segment/.../segment/leaf.txt`` with ``depth`` segments.

    With ``link_to``, the bottom directory also holds a symlink ``escape`` to it.

    Returns:
        The path of the leaf relative to ``parent/name``.
    """
    flags = os.O_RDONLY | os.O_DIRECTORY
    top = os.open(parent, flags)
    try:
        os.mkdir(name, dir_fd=top)
        current = os.open(name, flags, dir_fd=top)
    finally:
        os.close(top)
    try:
        for _ in range(depth):
            os.mkdir(segment, dir_fd=current)
            below = os.open(segment, flags, dir_fd=current)
            os.close(current)
            current = below
        leaf = os.open(LEAF, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=current)
        try:
            os.write(leaf, LEAF_CONTENT)
        finally:
            os.close(leaf)
        if link_to is not None:
            os.symlink(link_to, "escape", dir_fd=current)
    finally:
        os.close(current)
    return "/".join([segment] * depth + [LEAF])


def fitting_depth(*directories: str | os.PathLike[str], limit: int = 2000) -> int:
    """The deepest chain of one-letter segments (at most ``limit``) whose leaf fits in each directory."""
    longest = max(len(os.fsencode(os.fspath(d))) for d in directories)
    room = PATH_MAX - 1 - longest - len("/" + LEAF)
    return min(limit, room // 2)


def scratch(prefix: str) -> str:
    """A new temporary directory, in memory (``/dev/shm``) where there is one.

    Thousands of ``mkdir`` calls are slow on a busy shared disk and instant on tmpfs; depth behaves the
    same on both.
    """
    memory = "/dev/shm"
    fast = os.path.isdir(memory) and os.access(memory, os.W_OK | os.X_OK)
    return tempfile.mkdtemp(prefix=prefix, dir=memory if fast else None)


def remove(path: str | os.PathLike[str]) -> None:
    """Remove a tree of any depth, if it exists."""
    subprocess.run(["rm", "-rf", "--one-file-system", "--", os.fspath(path)], check=True)
