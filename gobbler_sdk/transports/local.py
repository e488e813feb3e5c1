"""Reading a registry mounted on this machine: no network, no cache, no copies."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from .._pathsafety import join_inside
from .._ranges import Slice, read_file_range
from ..errors import NotFoundError
from ..models import ManifestEntry

__all__ = ["LocalTransport"]


def _bytewise(name: str) -> bytes:
    return os.fsencode(name)


def _walk(directory: str, prefix: str, files: list[str], empty: list[str]) -> bool:
    """Collect files below ``directory``; return whether anything lies beneath it."""
    with os.scandir(directory) as scan:
        entries = sorted(scan, key=lambda e: _bytewise(e.name))
    for entry in entries:
        relative = prefix + entry.name
        if entry.is_dir(follow_symlinks=False):
            if not _walk(entry.path, relative + "/", files, empty):
                empty.append(relative + "/")
        else:
            files.append(relative)
    return bool(entries)


class LocalTransport:
    """Read the registry directly from the filesystem.

    Args:
        registry: Path of the mounted registry.
    """

    kind = "local"

    def __init__(self, registry: str | os.PathLike[str]) -> None:
        self.registry = Path(registry)

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
            files: list[str] = []
            empty: list[str] = []
            _walk(str(directory), "", files, empty)
            return files + empty
        except (FileNotFoundError, NotADirectoryError):
            raise NotFoundError(f"no directory at {path!r} in the registry") from None

    def read(self, path: str) -> bytes | None:
        """Read a small file, or ``None`` when it does not exist."""
        try:
            return self._resolve(path).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def fetch(self, path: str, *, entry: ManifestEntry | None = None, overwrite: bool = False) -> Path:
        """Return the file's own path in the registry (nothing is copied)."""
        target = self._resolve(path)
        if not target.is_file():
            raise NotFoundError(f"no file at {path!r} in the registry")
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
