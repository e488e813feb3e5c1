"""Reading a registry over the service's REST API (``/list``, ``/fetch``), with a verified cache."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import httpx

from .._cache import CHUNK, Cache
from .._http import RetryableStatus, error_from_response, fetch_url, is_retryable, list_query, with_retries
from .._pathsafety import checked_relative
from ..errors import NotFoundError, UnsafePathError
from ..models import ManifestEntry

__all__ = ["RemoteTransport"]


class RemoteTransport:
    """Read the registry through the service's HTTP API.

    Args:
        http: A pooled ``httpx.Client`` whose base URL is the service's URL.
        cache: Where downloaded files are kept.
        retries: Further attempts for idempotent GETs after a transient failure.
    """

    kind = "remote"

    def __init__(self, http: httpx.Client, cache: Cache, *, retries: int = 3) -> None:
        self.http = http
        self.cache = cache
        self.retries = retries

    def _get(self, url: str, what: str) -> httpx.Response:
        def attempt() -> httpx.Response:
            response = self.http.get(url)
            if is_retryable(response):
                raise RetryableStatus(response)
            return response

        return with_retries(attempt, retries=self.retries, what=what)

    def list(self, path: str, *, recursive: bool = False) -> list[str]:
        """List a directory through ``GET /list`` (see :class:`Transport`).

        Raises:
            NotFoundError: When the directory does not exist (the service answers 500 for that).
            UnsafePathError: When the service returns a path that is absolute or climbs.
        """
        if path not in ("", "."):
            checked_relative(path)
        what = f"list {path or 'the registry'}"
        response = self._get(list_query(path, recursive), what)
        if response.status_code != 200:
            error = error_from_response(response, what)
            if response.status_code == 500 and "no such file" in (error.reason or ""):
                raise NotFoundError(str(error), status=500, reason=error.reason) from None
            raise error
        try:
            listing = response.json()
        except ValueError:
            listing = None
        if not isinstance(listing, list) or not all(isinstance(item, str) for item in listing):
            raise UnsafePathError(f"{what}: the service returned something other than a list of paths")
        for item in listing:
            checked_relative(item[:-1] if item.endswith("/") else item)
        return listing

    def read(self, path: str) -> bytes | None:
        """Fetch a small file's bytes, or ``None`` on 404."""
        checked_relative(path)
        response = self._get(fetch_url(path), f"fetch {path}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise error_from_response(response, f"fetch {path}")
        return response.content

    def fetch(self, path: str, *, entry: ManifestEntry | None = None, overwrite: bool = False) -> Path:
        """Return a verified cached copy of a registry file, downloading it when needed."""
        local = self.cache.path_for(path)
        if not overwrite and self.cache.is_valid(local, entry):
            return local
        return self.download(path, entry)

    def download(self, path: str, entry: ManifestEntry | None) -> Path:
        """Download ``path`` into the cache, hashing while receiving, and verify it against ``entry``.

        Raises:
            NotFoundError: On 404.
            IntegrityError: When the received bytes do not match ``entry``.
        """
        what = f"fetch {path}"

        def attempt() -> Path:
            partial = self.cache.begin(path)
            try:
                with self.http.stream("GET", fetch_url(path)) as response:
                    if response.status_code != 200:
                        response.read()
                        if is_retryable(response):
                            raise RetryableStatus(response)
                        if response.status_code == 404:
                            raise NotFoundError(f"{what}: no such file in the registry", status=404)
                        raise error_from_response(response, what)
                    for chunk in response.iter_bytes(CHUNK):
                        partial.write(chunk)
            except BaseException:
                partial.discard()
                raise
            return partial.commit(entry, what)

        return with_retries(attempt, retries=self.retries, what=what)

    def open(self, path: str) -> BinaryIO:
        """Open a cached copy of the file (downloaded first when needed)."""
        return open(self.fetch(path), "rb")

    def close(self) -> None:
        """The HTTP client belongs to the :class:`~gobbler_sdk.GobblerClient`, which closes it."""
