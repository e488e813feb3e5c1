"""The read-side transport protocol: everything the client needs to read a registry, and nothing else.

A transport is the strict point of cut-off between the SDK and wherever the registry's bytes live. The client
never asks which transport it holds: every read (listings, documents, files, directories, byte ranges,
streams, ``gobbler://`` URLs, the command line) goes through the methods declared here, so a transport
written against this page alone is honoured everywhere. Paths are registry-relative and ``/``-separated
(``project/asset/version/file``); ``""`` is the registry's root. Failures are raised as the library's own
errors (:mod:`gobbler_sdk.errors`), never as the lower layer's.

:class:`~gobbler_sdk.transports.LocalTransport` answers from a mounted registry;
:class:`~gobbler_sdk.transports.RemoteTransport` answers over the REST API, with a verified cache, offline
mode and the service-down fallback. See "Writing a transport" in the docs for a complete example.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from .._ranges import Slice
from .._records import Entry

__all__ = ["ByteCallback", "FileCallback", "Slice", "Transport"]

#: Called with the size of each chunk of a file as it arrives (for progress bars).
ByteCallback = Callable[[int], None]

#: Called once per file placed by :meth:`Transport.fetch_many`: its registry path, its size, and whether
#: its bytes were reported through the :data:`ByteCallback` (``False`` for a copy that was already there).
FileCallback = Callable[[str, int, bool], None]


@runtime_checkable
class Transport(Protocol):
    """What the client needs from a registry, whichever way it is reached."""

    #: A short name for people and logs (``"local"``, ``"remote"``, or your own); never a switch.
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

    def read(self, path: str, *, reuse: bool = False) -> bytes | None:
        """Read a small registry file (an internal ``..`` document), or ``None`` when it does not exist.

        Args:
            path: Registry-relative file path.
            reuse: A copy kept from an earlier read may answer (the caller knows the document cannot
                have changed); a transport that keeps none ignores this.
        """
        ...

    def fetch(
        self,
        path: str,
        *,
        entry: Entry | None = None,
        overwrite: bool = False,
        verify: bool = True,
        on_bytes: ByteCallback | None = None,
    ) -> Path:
        """Make a registry file available on this machine and return its local path.

        Args:
            path: Registry-relative file path.
            entry: Its manifest entry, when known, to verify size and MD5.
            overwrite: Transfer it again even when a verified copy is kept.
            verify: Check size and MD5 against ``entry`` (skipping saves the hashing, not the transfer).
            on_bytes: Called with the size of each chunk as it arrives.

        Raises:
            NotFoundError: When the file does not exist.
            IntegrityError: When the bytes do not match ``entry``.
        """
        ...

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
        """Make several files available locally, each verified against its entry; return their root.

        Args:
            items: Registry paths with their manifest entries (``None`` for internal files); a path ending
                in ``/`` is a directory to create, even when empty. Files whose entries link to the same
                target may share one transfer.
            overwrite: Transfer again even what is kept and verified.
            verify: As for :meth:`fetch`.
            concurrency: Transfers in flight at most (at first, when ``grow_to`` is given).
            grow_to: Let the number in flight grow up to this while throughput rises.
            on_done: Called once per file in place (see :data:`FileCallback`).
            on_bytes: Called with the size of each chunk as it arrives.

        Returns:
            The local directory under which every item lies at its registry path.

        Raises:
            NotFoundError, IntegrityError, GobblerError: The first failure that retrying did not cure.
        """
        ...

    def read_range(self, path: str, start: int, end: int | None, *, md5: bool = False) -> Slice:
        """Bytes ``start`` to ``end`` (exclusive; ``None``: the end) of a file, without reading the rest.

        Args:
            path: Registry-relative file path.
            start: First byte.
            end: End of the range (exclusive), ``None`` for the end of the file.
            md5: Hash the bytes while they are read when they turn out to be the whole file.

        Returns:
            The bytes (fewer when the file ends first) and the whole file's size.

        Raises:
            NotFoundError: When there is no such file.
        """
        ...

    def open(self, path: str) -> BinaryIO:
        """Open a registry file for binary reading.

        Raises:
            NotFoundError: When there is no such file.
        """
        ...

    def local_path(self, path: str) -> Path | None:
        """Where a registry file or directory lies on this machine, read in place, or ``None``.

        ``None`` means the transport brings bytes from elsewhere (use :meth:`fetch` for a local copy).

        Raises:
            NotFoundError: When the registry is read in place and holds nothing at ``path``.
        """
        ...

    def close(self) -> None:
        """Release connections and other resources."""
        ...
