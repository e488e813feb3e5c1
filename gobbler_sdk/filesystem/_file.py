"""The file object ``GobblerFileSystem.open(path, "rb")`` returns: seekable, block-cached, ranged reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fsspec.spec import AbstractBufferedFile

from ..models import ManifestEntry

if TYPE_CHECKING:
    from ..client import GobblerClient

__all__ = ["GobblerFile"]


class GobblerFile(AbstractBufferedFile):  # type: ignore[misc]  # fsspec has no type hints
    """A registry file opened for reading through ``gobbler://``.

    Reads go through fsspec's block cache (``cache_type``, ``block_size``); each block the cache misses
    is one :meth:`GobblerClient.read_range <gobbler_sdk.GobblerClient.read_range>`: an HTTP ``Range``
    request remotely, a ``pread`` of the registry file when it is mounted. A block that covers the whole
    file is verified against the manifest's size and MD5; smaller blocks cannot be.

    Args:
        fs: The filesystem that opened it.
        path: The path as opened (``project/asset/version/file``, alias spelling kept).
        registry_path: The file's registry path (the alias resolved).
        entry: Its manifest entry (size and MD5).
        details: Its ``info()`` details.
        client: The client reading it.
        block_size: Bytes per cache block.
        cache_type: fsspec cache name (``"readahead"``, ``"blockcache"``, ``"all"``, ``"none"``, ...).
        cache_options: Options for the cache.
    """

    def __init__(
        self,
        fs: Any,
        path: str,
        *,
        registry_path: str,
        entry: ManifestEntry,
        details: dict[str, Any],
        client: GobblerClient,
        block_size: int,
        cache_type: str,
        cache_options: dict[str, Any] | None,
    ) -> None:
        self.registry_path = registry_path
        self.entry = entry
        self._client = client
        super().__init__(
            fs,
            path,
            mode="rb",
            block_size=block_size,
            cache_type=cache_type,
            cache_options=cache_options,
            size=entry.size,
        )
        self.details = details

    def _fetch_range(self, start: int, end: int) -> bytes:
        """The bytes ``start`` to ``end`` (exclusive) of the file: one ranged read."""
        end = min(end, self.size)
        if start >= end:
            return b""
        return self._client.read_range(self.registry_path, start, end, entry=self.entry)
