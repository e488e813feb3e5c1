"""The download cache: verified, atomic, safe against hostile paths.

Files live at ``<root>/REGISTRY/<project>/<asset>/<version>/<path>`` (the layout pygobbler uses, so
caches can be shared). Every file is written to a temporary file in its destination directory and renamed
into place only after its size and MD5 match the manifest, so a concurrent reader, in this process or
another, sees either nothing or a complete, verified file. A cached file is trusted again only after the
same check.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from ._atomic import temp_name
from ._pathsafety import join_inside
from .errors import ConfigurationError, IntegrityError
from .models import ManifestEntry

__all__ = ["Cache", "PartialFile", "md5_of_file"]

CHUNK = 1 << 20


def md5_of_file(path: str | os.PathLike[str]) -> str:
    """Hex MD5 of a file, read in 1 MiB chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class PartialFile:
    """A download in progress: bytes go to a temporary file and into an MD5 as they arrive.

    Call :meth:`commit` to verify and rename into place, or :meth:`discard` to drop it.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        self.size = 0
        self._digest = hashlib.md5()
        target.parent.mkdir(parents=True, exist_ok=True)
        while True:
            self._tmp = temp_name(str(target.parent), ".gobbler-", ".part")
            try:
                fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                break
            except FileExistsError:
                continue
        self._handle = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        """Append a chunk."""
        self._handle.write(chunk)
        self._digest.update(chunk)
        self.size += len(chunk)

    def commit(self, entry: ManifestEntry | None, what: str) -> Path:
        """Verify against ``entry`` (when given) and atomically move into place.

        Raises:
            IntegrityError: When the size or MD5 differs; the temporary file is removed.
        """
        self._handle.close()
        if entry is not None:
            problem = None
            if self.size != entry.size:
                problem = f"expected {entry.size} bytes, received {self.size}"
            elif self._digest.hexdigest() != entry.md5sum:
                problem = f"expected MD5 {entry.md5sum}, received {self._digest.hexdigest()}"
            if problem is not None:
                self.discard()
                raise IntegrityError(f"{what}: {problem}")
        os.replace(self._tmp, self.target)
        return self.target

    def discard(self) -> None:
        """Remove the temporary file."""
        if not self._handle.closed:
            self._handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)


class Cache:
    """A directory of verified copies of registry files.

    Args:
        root: Cache directory; created on first use.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def registry_root(self) -> Path:
        """Where registry files are mirrored."""
        return self.root / "REGISTRY"

    def path_for(self, path: str) -> Path:
        """Local path of a registry-relative path (checked: it can never leave the cache).

        Raises:
            UnsafePathError: For absolute paths, ``..`` components, backslashes and the like.
            ConfigurationError: When the cache directory cannot be created.
        """
        try:
            self.registry_root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(f"cannot use {self.root} as the download cache: {exc}") from exc
        return join_inside(self.registry_root, path)

    @staticmethod
    def is_valid(local: Path, entry: ManifestEntry | None) -> bool:
        """Whether a cached file exists and matches ``entry`` (size, then MD5)."""
        try:
            size = local.stat().st_size
        except OSError:
            return False
        if not local.is_file():
            return False
        if entry is None:
            return True
        return size == entry.size and md5_of_file(local) == entry.md5sum

    def read_bytes(self, path: str) -> bytes | None:
        """Content of a cached registry file, or ``None`` when it is not cached."""
        try:
            return self.path_for(path).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def write_bytes(self, path: str, data: bytes) -> Path:
        """Store a registry file's content atomically."""
        partial = self.begin(path)
        try:
            partial.write(data)
        except BaseException:
            partial.discard()
            raise
        return partial.commit(None, path)

    def begin(self, path: str) -> PartialFile:
        """Start writing the cached copy of ``path``."""
        return PartialFile(self.path_for(path))
