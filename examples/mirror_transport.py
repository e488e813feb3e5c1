"""A transport of your own: reading a copy of the registry kept at another path.

Written against the documented ``gobbler_sdk.transports.Transport`` protocol alone (no shipped transport is
subclassed), this is the worked example of the "Writing a transport" guide, and the test suite runs every
read through it. Run it with ``.venv/bin/python examples/mirror_transport.py``: it starts a service, uploads
a version, copies the registry elsewhere, and reads the copy through the SDK.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from gobbler_sdk import GobblerClient, ManifestEntry, NotFoundError, UnsafePathError
from gobbler_sdk.testing import GobblerService
from gobbler_sdk.transports import ByteCallback, FileCallback, Slice


class MirrorTransport:
    """Reads a registry copied to ``root`` (by rsync, a backup, a snapshot...), counting what it serves.

    Args:
        root: The copy's top directory (holding the projects).
    """

    kind = "mirror"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.reads = 0

    def _path(self, path: str) -> Path:
        parts = path.split("/") if path else []
        if any(part in ("", ".", "..") for part in parts):
            raise UnsafePathError(f"refusing {path!r}")
        return self.root.joinpath(*parts)

    def list(self, path: str, *, recursive: bool = False) -> list[str]:
        """Children (directories with a trailing ``/``), or every file then the deepest empty directories."""
        top = self._path(path)
        if not top.is_dir():
            raise NotFoundError(f"no directory at {path!r} in the mirror")
        if not recursive:
            return [p.name + "/" if p.is_dir() else p.name for p in sorted(top.iterdir(), key=_bytewise)]
        files: list[str] = []
        empty: list[str] = []
        # Depth first, each directory in byte order, as the service lists; a stack of iterators instead of
        # recursion, so any depth is fine.
        stack = [iter(sorted(top.iterdir(), key=_bytewise))]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                continue
            relative = child.relative_to(top).as_posix()
            if child.is_dir() and not child.is_symlink():
                below = sorted(child.iterdir(), key=_bytewise)
                if below:
                    stack.append(iter(below))
                else:
                    empty.append(relative + "/")
            else:
                files.append(relative)
        return files + empty

    def read(self, path: str, *, reuse: bool = False) -> bytes | None:
        """A small document's bytes, or ``None`` (nothing is kept, so ``reuse`` changes nothing)."""
        self.reads += 1
        try:
            return self._path(path).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def fetch(
        self,
        path: str,
        *,
        entry: ManifestEntry | None = None,
        overwrite: bool = False,
        verify: bool = True,
        on_bytes: ByteCallback | None = None,
    ) -> Path:
        """The copy's own file (nothing is transferred)."""
        self.reads += 1
        target = self._path(path)
        if not target.is_file():
            raise NotFoundError(f"no file at {path!r} in the mirror")
        return target

    def fetch_many(
        self,
        items: Sequence[tuple[str, ManifestEntry | None]],
        *,
        overwrite: bool = False,
        verify: bool = True,
        concurrency: int = 8,
        grow_to: int | None = None,
        on_done: FileCallback | None = None,
        on_bytes: ByteCallback | None = None,
    ) -> Path:
        """Everything is already here: report the files and return the copy's root."""
        for path, entry in items:
            if not path.endswith("/") and on_done is not None:
                on_done(path, entry.size if entry is not None else 0, False)
        return self.root

    def read_range(self, path: str, start: int, end: int | None, *, md5: bool = False) -> Slice:
        """Bytes of a file, read in place."""
        self.reads += 1
        try:
            with open(self._path(path), "rb") as handle:
                total = os.fstat(handle.fileno()).st_size
                handle.seek(start)
                data = handle.read() if end is None else handle.read(max(0, end - start))
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFoundError(f"no file at {path!r} in the mirror") from None
        whole = start == 0 and len(data) == total
        return Slice(data, total, hashlib.md5(data).hexdigest() if md5 and whole else None)

    def open(self, path: str) -> BinaryIO:
        """The copy's file, opened."""
        self.reads += 1
        try:
            return open(self._path(path), "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise NotFoundError(f"no file at {path!r} in the mirror") from None

    def local_path(self, path: str) -> Path | None:
        """Files are read in place here."""
        target = self._path(path)
        if not os.path.lexists(target):
            raise NotFoundError(f"nothing at {path!r} in the mirror")
        return target

    def close(self) -> None:
        """Nothing to release."""


def _bytewise(path: Path) -> bytes:
    return os.fsencode(path.name)


def main() -> None:
    """Upload a version, copy the registry elsewhere, and read the copy through the SDK."""
    with (
        GobblerService(binary=os.environ.get("GOBBLER_BINARY")) as service,
        tempfile.TemporaryDirectory() as tmp,
    ):
        source = Path(tmp) / "source"
        (source / "tables").mkdir(parents=True)
        (source / "tables" / "counts.csv").write_text("place,count\nnorth,12\n")
        with GobblerClient(service.url) as writer:
            writer.create_project("mirrored")
            writer.project("mirrored").asset("a").upload("v1", source)
        mirror = Path(tmp) / "mirror"
        shutil.copytree(service.registry, mirror, ignore=shutil.ignore_patterns("..logs"))
        transport = MirrorTransport(mirror)
        with GobblerClient(service.url, transport=transport) as client:
            version = client.project("mirrored").asset("a").version("v1")
            print("files:", version.files(include_dotdot=False))
            print("counts:", version.read_bytes("tables/counts.csv").decode().splitlines())
            copied = version.fetch_directory(local_dir=Path(tmp) / "copy")
            print("copied:", sorted(p.name for p in copied.rglob("*.csv")))
            print("reads served by the mirror:", transport.reads)


if __name__ == "__main__":
    main()
