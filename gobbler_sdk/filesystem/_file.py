"""The file object ``GobblerFileSystem.open(path, "rb")`` returns: seekable, block-cached, ranged reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fsspec.caching import ReadAheadCache
from fsspec.spec import AbstractBufferedFile

from ..models import ManifestEntry

if TYPE_CHECKING:
    from ..client import GobblerClient

__all__ = ["GobblerFile"]

#: The read-ahead of a file read from start to end grows up to this (see :class:`GobblerFile`).
MAX_READAHEAD = 16 * 1024 * 1024


class _GrowingReadAhead(ReadAheadCache):  # type: ignore[misc]  # fsspec has no type hints
    """fsspec's read-ahead cache, whose read-ahead doubles while reads continue where the last block ended.

    A read that starts elsewhere puts it back to the file's block size before the block is fetched.
    """

    def __init__(self, blocksize: int, fetcher: Any, size: int, **options: Any) -> None:
        super().__init__(blocksize, fetcher, size, **options)
        self._base = blocksize

    def _fetch(self, start: int | None, end: int | None) -> bytes:
        first = start or 0
        last = self.size if end is None else min(end, self.size)
        if self.end > 0 and self.start <= first <= self.end < last:
            self.blocksize: int = min(2 * self.blocksize, MAX_READAHEAD)
        elif not self.start <= first < self.end:
            self.blocksize = self._base
        data: bytes = super()._fetch(start, end)
        return data


class GobblerFile(AbstractBufferedFile):  # type: ignore[misc]  # fsspec has no type hints
    """A registry file opened for reading through ``gobbler://``.

    Reads go through fsspec's block cache (``cache_type``, ``block_size``); each block the cache misses
    is one :meth:`GobblerClient.read_range <gobbler_sdk.GobblerClient.read_range>`: an HTTP ``Range``
    request remotely, a ``pread`` of the registry file when it is mounted. A block that covers the whole
    file is verified against the manifest's size and MD5; smaller blocks cannot be.

    With the default ``"readahead"`` cache, the read-ahead doubles (up to 16 MiB) while the file is read
    sequentially and falls back to ``block_size`` after a seek: a scan from start to end (``read_csv``)
    needs few requests, while scattered reads (Parquet columns) fetch little beyond what they ask for.

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
        if cache_type == "readahead":
            self.cache = _GrowingReadAhead(
                self.blocksize, self._fetch_range, self.size, **(cache_options or {})
            )

    def _fetch_range(self, start: int, end: int) -> bytes:
        """The bytes ``start`` to ``end`` (exclusive) of the file: one ranged read."""
        end = min(end, self.size)
        if start >= end:
            return b""
        return self._client.read_range(self.registry_path, start, end, entry=self.entry)
