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
import stat
import threading
from pathlib import Path

from ._atomic import temp_name
from ._pathsafety import checked_relative
from .errors import ConfigurationError, IntegrityError, UnsafePathError
from .models import ManifestEntry

__all__ = ["Cache", "PartialFile", "integrity_problem", "md5_of_file"]

CHUNK = 1 << 20


def integrity_problem(entry: ManifestEntry, size: int, md5: str | None) -> str | None:
    """What differs between received bytes (their size and MD5) and their manifest entry, or ``None``."""
    if size != entry.size:
        return f"expected {entry.size} bytes, received {size}"
    if md5 != entry.md5sum:
        return f"expected MD5 {entry.md5sum}, received {md5}"
    return None


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

    Args:
        target: Final path; its directory must exist.
        hashing: Compute the MD5 as bytes arrive (needed to verify against a manifest entry).
    """

    def __init__(self, target: Path, *, hashing: bool = True) -> None:
        self.target = target
        self.size = 0
        self._digest = hashlib.md5() if hashing else None
        directory = os.path.dirname(target)
        while True:
            self._tmp = temp_name(directory, ".gobbler-", ".part")
            try:
                self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                break
            except FileExistsError:
                continue

    def write(self, chunk: bytes | memoryview) -> None:
        """Append a chunk."""
        view = memoryview(chunk)
        while view:
            view = view[os.write(self._fd, view) :]
        if self._digest is not None:
            self._digest.update(chunk)
        self.size += len(chunk)

    def commit(self, entry: ManifestEntry | None, what: str, *, digest: str | None = None) -> Path:
        """Verify against ``entry`` (when given) and atomically move into place.

        Args:
            entry: Expected size and MD5; ``None`` accepts anything.
            what: Description for the error message.
            digest: The MD5 when it was computed elsewhere (by a hashing thread).

        Raises:
            IntegrityError: When the size or MD5 differs; the temporary file is removed.
        """
        self._close()
        if entry is not None:
            found = digest if digest is not None else self._digest.hexdigest() if self._digest else None
            problem = integrity_problem(entry, self.size, found)
            if problem is not None:
                self.discard()
                raise IntegrityError(f"{what}: {problem}")
        os.replace(self._tmp, self.target)
        return self.target

    def _close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def discard(self) -> None:
        """Remove the temporary file."""
        self._close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)


class Cache:
    """A directory of verified copies of registry files.

    Args:
        root: Cache directory; created on first use.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._base = os.path.join(os.fspath(root), "REGISTRY")
        self._real_base: str | None = None
        # Directories already created and proven to resolve inside the cache: checking each file's
        # directory once, not each file, keeps a 2,000-file download from resolving paths 4,000 times.
        self._ready: set[str] = set()
        self._lock = threading.Lock()

    @property
    def registry_root(self) -> Path:
        """Where registry files are mirrored."""
        return Path(self._base)

    def path_for(self, path: str) -> Path:
        """Local path of a registry-relative path; its directory is created and proven to be inside the cache.

        Raises:
            UnsafePathError: For absolute paths, ``..`` components, backslashes, or a directory that
                resolves (through a symlink already on disk) outside the cache.
            ConfigurationError: When the cache directory cannot be created.
        """
        target = os.path.join(self._base, checked_relative(path))
        self._prepare(os.path.dirname(target), path)
        return Path(target)

    def directory_for(self, path: str) -> Path:
        """Like :meth:`path_for`, for a directory that is itself created."""
        target = os.path.join(self._base, checked_relative(path)) if path else self._base
        self._prepare(target, path)
        return Path(target)

    def _prepare(self, directory: str, path: str) -> None:
        if directory in self._ready:
            return
        if self._real_base is None:
            self._real_base = os.path.realpath(self._base)
        # Resolved before anything is created, so a symlink planted in the cache is never written through.
        real = os.path.realpath(directory)
        if real != self._real_base and not real.startswith(self._real_base + os.sep):
            raise UnsafePathError(f"refusing path {path!r}: it leaves {self.root}")
        try:
            os.makedirs(directory, exist_ok=True)
        except FileExistsError:
            raise UnsafePathError(f"refusing path {path!r}: a file is in the way in the cache") from None
        except OSError as exc:
            raise ConfigurationError(f"cannot use {self.root} as the download cache: {exc}") from exc
        with self._lock:
            self._ready.add(directory)

    @staticmethod
    def is_valid(local: Path, entry: ManifestEntry | None) -> bool:
        """Whether a cached file exists and matches ``entry`` (size, then MD5)."""
        try:
            info = os.stat(local)
        except OSError:
            return False
        if not stat.S_ISREG(info.st_mode):
            return False
        if entry is None:
            return True
        return info.st_size == entry.size and md5_of_file(local) == entry.md5sum

    def read_bytes(self, path: str) -> bytes | None:
        """Content of a cached registry file, or ``None`` when it is not cached."""
        try:
            return self.path_for(path).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def write_bytes(self, path: str, data: bytes) -> Path:
        """Store a registry file's content atomically."""
        partial = self.begin(path, hashing=False)
        try:
            partial.write(data)
        except BaseException:
            partial.discard()
            raise
        return partial.commit(None, path)

    def begin(self, path: str, *, hashing: bool = True) -> PartialFile:
        """Start writing the cached copy of ``path``."""
        return PartialFile(self.path_for(path), hashing=hashing)
