"""Reading a registry mounted on this machine: no network, no cache, no copies."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from .._pathsafety import join_inside
from .._ranges import Slice, read_file_range
from .._records import Entry
from ..errors import NotFoundError
from .base import ByteCallback, FileCallback

__all__ = ["LocalTransport"]


def _bytewise(name: str) -> bytes:
    return os.fsencode(name)


def _walk(top: str) -> tuple[list[str], list[str]]:
    """Files below ``top`` and its deepest empty directories, in the service's order.

    Iterative, so a tree of any depth is listed: a stack of directories still to read, each expanded in
    place in byte order, gives the depth-first order ``GET /list?recursive=true`` answers with.
    """
    files: list[str] = []
    empty: list[str] = []
    # Each frame: the sorted entries of one directory and the index of the next one to visit.
    stack: list[tuple[list[os.DirEntry[str]], int, str]] = []

    def push(directory: str, prefix: str) -> bool:
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda e: _bytewise(e.name))
        if entries:
            stack.append((entries, 0, prefix))
        return bool(entries)

    push(top, "")
    while stack:
        entries, index, prefix = stack.pop()
        if index + 1 < len(entries):
            stack.append((entries, index + 1, prefix))
        entry = entries[index]
        relative = prefix + entry.name
        if entry.is_dir(follow_symlinks=False):
            if not push(entry.path, relative + "/"):
                empty.append(relative + "/")
        else:
            files.append(relative)
    return files, empty


class LocalTransport:
    """Read the registry directly from the filesystem.

    Args:
        registry: Path of the mounted registry.
    """

    kind = "local"

    def __init__(self, registry: str | os.PathLike[str]) -> None:
        self.registry = Path(registry)

    def __repr__(self) -> str:
        return f"LocalTransport({str(self.registry)!r})"

    def _resolve(self, path: str) -> Path:
        return self.registry if path in ("", ".") else join_inside(self.registry, path)

    def list(self, path: str, *, recursive: bool = False) -> list[str]:
        """List a directory with the same shape as ``GET /list`` (see :class:`Transport`)."""
        directory = self._resolve(path)
        try:
            if not recursive:
                with os.scandir(directory) as scan:
                    entries = sorted(scan, key=lambda e: _bytewise(e.name))
                return [e.name + "/" if e.is_dir(follow_symlinks=False) else e.name for e in entries]
            files, empty = _walk(str(directory))
            return files + empty
        except (FileNotFoundError, NotADirectoryError):
            raise NotFoundError(f"no directory at {path!r} in the registry") from None

    def read(self, path: str, *, reuse: bool = False) -> bytes | None:
        """Read a small file, or ``None`` when it does not exist (always read in place)."""
        try:
            return self._resolve(path).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def fetch(
        self,
        path: str,
        *,
        entry: Entry | None = None,
        overwrite: bool = False,
        verify: bool = True,
        on_bytes: ByteCallback | None = None,
    ) -> Path:
        """Return the file's own path in the registry (nothing is copied, so nothing is hashed)."""
        target = self._resolve(path)
        if not target.is_file():
            raise NotFoundError(f"no file at {path!r} in the registry")
        return target

    def fetch_many(
        self,
        items: Sequence[tuple[str, Entry | None]],
        *,
        overwrite: bool = False,
        verify: bool = True,
        concurrency: int = 8,
        grow_to: int | None = None,
        on_done: FileCallback | None = None,
        on_bytes: ByteCallback | None = None,
    ) -> Path:
        """Every file is already here: report each as placed and return the registry's root."""
        if on_done is not None:
            for path, entry in items:
                if not path.endswith("/"):
                    on_done(path, entry.size if entry is not None else 0, False)
        return self.registry

    def local_path(self, path: str) -> Path | None:
        """The file's or directory's own path in the registry.

        Raises:
            NotFoundError: When nothing is there.
        """
        target = self._resolve(path)
        if not os.path.lexists(target):
            raise NotFoundError(f"nothing at {path!r} in the registry")
        return target

    def open(self, path: str) -> BinaryIO:
        """Open the registry file itself."""
        try:
            return open(self._resolve(path), "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFoundError(f"no file at {path!r} in the registry") from None

    def read_range(self, path: str, start: int, end: int | None, *, md5: bool = False) -> Slice:
        """Bytes ``start`` to ``end`` (exclusive; ``None``: the end) of the file, read in place.

        Args:
            path: Registry-relative file path.
            start: First byte.
            end: End of the range (exclusive), ``None`` for the end of the file.
            md5: Hash the bytes while they are read when they are the whole file.

        Returns:
            The bytes (fewer when the file ends first) and the file's size.

        Raises:
            NotFoundError: When there is no regular file at ``path``.
        """
        try:
            return read_file_range(self._resolve(path), start, end, md5=md5)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFoundError(f"no file at {path!r} in the registry") from None

    def close(self) -> None:
        """Nothing to release."""
