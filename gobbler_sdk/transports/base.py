"""The read-side transport protocol: how the client sees a registry.

A transport answers four questions about registry-relative paths (``project/asset/version/file``):
what a directory holds, what an internal file says, where a local copy of a file is, and how to read it.
:class:`~gobbler_sdk.transports.LocalTransport` answers from a mounted registry;
:class:`~gobbler_sdk.transports.RemoteTransport` answers over the REST API with a verified cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from ..models import ManifestEntry

__all__ = ["Transport"]


@runtime_checkable
class Transport(Protocol):
    """What the client needs from a registry, whichever way it is reached."""

    #: ``"local"`` or ``"remote"``.
    kind: str

    def list(self, path: str, *, recursive: bool = False) -> list[str]:
        """List a registry directory like ``GET /list``.

        Args:
            path: Registry-relative directory; ``""`` for the root.
            recursive: List every file below it (``/``-separated relative paths) instead of its children.

        Returns:
            Non-recursive: child names, directories with a trailing ``/``. Recursive: file paths, then the
            deepest empty directories with a trailing ``/``.

        Raises:
            NotFoundError: When the directory does not exist.
        """
        ...

    def read(self, path: str) -> bytes | None:
        """Read a small registry file (an internal ``..`` file), or ``None`` when it does not exist."""
        ...

    def fetch(self, path: str, *, entry: ManifestEntry | None = None, overwrite: bool = False) -> Path:
        """Make a registry file available on this machine and return its local path.

        Args:
            path: Registry-relative file path.
            entry: Its manifest entry, when known, to verify size and MD5.
            overwrite: Download again even when a verified copy is cached.

        Raises:
            NotFoundError: When the file does not exist.
            IntegrityError: When the bytes do not match ``entry``.
        """
        ...

    def open(self, path: str) -> BinaryIO:
        """Open a registry file for binary reading."""
        ...

    def close(self) -> None:
        """Release connections and other resources."""
        ...
