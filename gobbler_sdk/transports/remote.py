"""Reading a registry over the service's REST API (``/list``, ``/fetch``), with a verified cache."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import httpx

from .._cache import CHUNK, Cache, PartialFile
from .._fetcher import Answer, Fetcher, receive
from .._http import (
    TRANSPORT_ERRORS,
    RetryableStatus,
    error_from_answer,
    error_from_response,
    fetch_url,
    final_error,
    is_retryable,
    is_retryable_status,
    list_query,
    with_retries,
)
from .._pathsafety import checked_relative
from ..errors import NotFoundError, UnsafePathError
from ..models import ManifestEntry

__all__ = ["RemoteTransport"]


class RemoteTransport:
    """Read the registry through the service's HTTP API.

    Every read is an idempotent GET: it goes through ``fetcher`` when one is given (lean keep-alive
    connections, see :mod:`gobbler_sdk._fetcher`), else through ``http`` (an ``httpx.Client``).

    Args:
        http: A pooled ``httpx.Client`` whose base URL is the service's URL, or a function returning one
            when first needed (building an ``httpx.Client`` costs 20-40 ms, mostly for its TLS context,
            which reads through the fast path never need).
        cache: Where downloaded files are kept.
        retries: Further attempts for idempotent GETs after a transient failure.
        fetcher: Fast path for reads; ``None`` sends everything through ``http``.
    """

    kind = "remote"

    def __init__(
        self,
        http: httpx.Client | Callable[[], httpx.Client],
        cache: Cache,
        *,
        retries: int = 3,
        fetcher: Fetcher | None = None,
    ) -> None:
        self._http = http
        self.cache = cache
        self.retries = retries
        self.fetcher = fetcher

    @property
    def http(self) -> httpx.Client:
        """The ``httpx.Client`` for reads without a fast path (built on first use if given as a function)."""
        if not isinstance(self._http, httpx.Client):
            self._http = self._http()
        return self._http

    def _answer(self, url: str, what: str) -> Answer:
        """A small GET answer, through the fast path when there is one, retried when transient."""
        fetcher = self.fetcher

        def attempt() -> Answer:
            if fetcher is not None:
                answer = fetcher.get(url)
            else:
                response = self.http.get(url)
                answer = Answer(response.status_code, response.headers.get("content-type"), response.content)
            if is_retryable_status(answer.status, answer.content_type):
                raise RetryableStatus(answer.status, answer.content_type, answer.body)
            return answer

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
        answer = self._answer(list_query(path, recursive), what)
        if answer.status != 200:
            error = error_from_answer(answer.status, answer.content_type, answer.body, what)
            if answer.status == 500 and "no such file" in (error.reason or ""):
                raise NotFoundError(str(error), status=500, reason=error.reason) from None
            raise error
        try:
            listing = json.loads(answer.body)
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
        what = f"fetch {path}"
        answer = self._answer(fetch_url(path), what)
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise error_from_answer(answer.status, answer.content_type, answer.body, what)
        return answer.body

    def fetch(
        self, path: str, *, entry: ManifestEntry | None = None, overwrite: bool = False, verify: bool = True
    ) -> Path:
        """Return a verified cached copy of a registry file, downloading it when needed.

        Args:
            path: Registry-relative file path.
            entry: Its manifest entry, when known, to verify size and MD5.
            overwrite: Download again even when a verified copy is cached.
            verify: Check size and MD5 (skipping it saves the hashing, not the download).
        """
        local = self.cache.path_for(path)
        if not overwrite and self.cache.is_valid(local, entry if verify else None):
            return local
        return self._download(path, local, entry, verify)

    def download(self, path: str, entry: ManifestEntry | None, *, verify: bool = True) -> Path:
        """Download ``path`` into the cache, hashing while receiving, and verify it against ``entry``.

        Raises:
            NotFoundError: On 404.
            IntegrityError: When the received bytes do not match ``entry``.
        """
        return self._download(path, self.cache.path_for(path), entry, verify)

    def _download(
        self, path: str, local: Path, entry: ManifestEntry | None, verify: bool, *, retries: int | None = None
    ) -> Path:
        what = f"fetch {path}"
        retries = self.retries if retries is None else retries
        fetcher = self.fetcher
        expected = entry if verify else None

        def fast_attempt(fetcher: Fetcher) -> Path:
            partial = PartialFile(local, hashing=False)
            try:
                result = fetcher.download(fetch_url(path), partial, verify=verify and entry is not None)
            except BaseException:
                partial.discard()
                raise
            return _settle(result, partial, path, expected)

        if fetcher is not None:
            return with_retries(lambda: fast_attempt(fetcher), retries=retries, what=what)

        def attempt() -> Path:
            partial = PartialFile(local)
            try:
                with self.http.stream("GET", fetch_url(path)) as response:
                    if response.status_code != 200:
                        response.read()
                        if is_retryable(response):
                            raise RetryableStatus.of(response)
                        if response.status_code == 404:
                            raise NotFoundError(f"{what}: no such file in the registry", status=404)
                        raise error_from_response(response, what)
                    for chunk in response.iter_bytes(CHUNK):
                        partial.write(chunk)
            except BaseException:
                partial.discard()
                raise
            return partial.commit(expected, what)

        return with_retries(attempt, retries=retries, what=what)

    def fetch_many(
        self,
        items: Sequence[tuple[str, ManifestEntry | None]],
        *,
        concurrency: int,
        grow_to: int | None = None,
        on_done: Callable[[str, int], None] | None = None,
    ) -> None:
        """Download several files into the cache, each verified against its entry and moved into place.

        With the fast path, one thread keeps up to ``concurrency`` requests in flight, each on its own
        keep-alive connection (see :meth:`Fetcher.exchange_many`); a request that fails transiently is
        then retried on its own with the usual back-off. Without it, ``concurrency`` threads share the
        ``httpx.Client``.

        Args:
            items: Registry paths with their manifest entries (``None`` downloads without a check).
            concurrency: Requests in flight at most (at first, when ``grow_to`` is given).
            grow_to: On the fast path, let the window grow up to this while throughput rises.
            on_done: Called with each path and its size once it is in place.

        Raises:
            NotFoundError, IntegrityError, GobblerError: The first failure that retrying did not cure.
        """
        targets = [self.cache.path_for(path) for path, _ in items]

        def finished(index: int) -> None:
            if on_done is not None:
                path, entry = items[index]
                on_done(path, entry.size if entry is not None else 0)

        fetcher = self.fetcher
        if fetcher is None or len(items) <= 1:

            def one(index: int) -> None:
                path, entry = items[index]
                self._download(path, targets[index], entry, True)
                finished(index)

            if concurrency <= 1 or len(items) <= 1:
                for index in range(len(items)):
                    one(index)
            else:
                with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="gobbler-fetch") as pool:
                    for _ in pool.map(one, range(len(items))):
                        pass
            return

        def handle(index: int, response: http.client.HTTPResponse) -> None:
            path, entry = items[index]
            partial = PartialFile(targets[index], hashing=False)
            try:
                result = receive(response, partial, verify=entry is not None)
            except BaseException:
                partial.discard()
                raise
            _settle(result, partial, path, entry)
            finished(index)

        failures = fetcher.exchange_many(
            [fetch_url(path) for path, _ in items], handle, window=concurrency, grow_to=grow_to
        )
        for index, exc in sorted(failures.items()):
            path, entry = items[index]
            if not isinstance(exc, (RetryableStatus, *TRANSPORT_ERRORS)):
                raise exc
            if self.retries <= 0:
                raise final_error(exc, f"fetch {path}") from exc
            # The attempt in the batch was the first of the usual ``retries + 1``.
            self._download(path, targets[index], entry, True, retries=self.retries - 1)
            finished(index)

    def open(self, path: str) -> BinaryIO:
        """Open a cached copy of the file (downloaded first when needed)."""
        return open(self.fetch(path), "rb")

    def close(self) -> None:
        """Close the fast-path connections (the ``httpx.Client`` belongs to the client, which closes it)."""
        if self.fetcher is not None:
            self.fetcher.close()


def _settle(result: Answer | str, partial: PartialFile, path: str, expected: ManifestEntry | None) -> Path:
    """Finish a fast-path download: map an error answer to its exception, else verify and commit."""
    what = f"fetch {path}"
    if isinstance(result, Answer):
        partial.discard()
        if is_retryable_status(result.status, result.content_type):
            raise RetryableStatus(result.status, result.content_type, result.body)
        if result.status == 404:
            raise NotFoundError(f"{what}: no such file in the registry", status=404)
        raise error_from_answer(result.status, result.content_type, result.body, what)
    return partial.commit(expected, what, digest=result)
