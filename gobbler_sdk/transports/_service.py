"""The raw remote layer: HTTP exchanges with the service, mapped to the library's errors at this boundary.

Nothing here decides whether to ask: the verified cache, offline mode, the service-down fallback and the
reuse of settled documents belong to :class:`~gobbler_sdk.transports.RemoteTransport`, which composes this
layer. Every exchange is an idempotent GET, retried when transient (the one retry choke point,
:func:`gobbler_sdk._http.with_retries`); downloads land in the cache given, atomically and verified.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import overload

import httpx

from .._cache import (
    CHUNK,
    RESUME_THRESHOLD,
    Cache,
    DirectoryTable,
    PartialFile,
    announced_message,
    integrity_problem,
    too_long_message,
)
from .._fetcher import Answer, Fetcher, read_capped, receive, resumed_answer
from .._http import (
    TRANSPORT_ERRORS,
    RetryableStatus,
    error_from_answer,
    fetch_url,
    final_error,
    get_answer,
    is_retryable_status,
    is_service_json,
    list_query,
    read_capped_stream,
    with_retries,
)
from .._limits import ReadLimits, deadline_scope
from .._log import logger
from .._pathsafety import checked_relative
from .._ranged import download_ranged, wants_ranges
from .._ranges import Slice, check_bounds, plan_body, range_header
from .._records import Entry
from ..errors import GobblerError, IntegrityError, NotFoundError, UnsafePathError
from .base import ByteCallback

__all__ = ["ServiceReader"]

#: Files up to this size (by their manifest entry) are received whole into memory, verified there, and
#: written in one go (``openat``, ``write``, ``renameat``): nothing reaches the disk before the MD5 matches.
SMALL_FILE = CHUNK


class ServiceReader:
    """Reads from the service's HTTP API: listings, documents, downloads into a cache, byte ranges.

    Every read goes through ``fetcher`` when one is given (lean keep-alive connections, see
    :mod:`gobbler_sdk._fetcher`), else through ``http`` (an ``httpx.Client``).

    Args:
        http: A pooled ``httpx.Client`` whose base URL is the service's URL, or a function returning one
            when first needed (building an ``httpx.Client`` costs 20-40 ms, mostly for its TLS context,
            which reads through the fast path never need).
        cache: Where downloads are written.
        retries: Further attempts for idempotent GETs after a transient failure.
        fetcher: Fast path for reads; ``None`` sends everything through ``http``.
        limits: Deadlines and the size cap of answers.
        identify: Called before a 404 or an odd answer is believed: raises
            :class:`~gobbler_sdk.errors.ConfigurationError` when the URL is not a Gobbler service at all.
    """

    def __init__(
        self,
        http: httpx.Client | Callable[[], httpx.Client],
        cache: Cache,
        *,
        retries: int,
        fetcher: Fetcher | None,
        limits: ReadLimits,
        identify: Callable[[], object] | None,
    ) -> None:
        self._http = http
        self.cache = cache
        self.retries = retries
        self.fetcher = fetcher
        self.limits = limits
        self._identify = identify

    def confirm_service(self) -> None:
        """Check once that the URL is a Gobbler service (``GET /info``) before believing an odd answer.

        A wrong URL or path prefix answers every read with a 404 or 405, which would otherwise read as
        "this version does not exist".

        Raises:
            ConfigurationError: When the URL answers but is not a Gobbler service.
        """
        if self._identify is not None:
            self._identify()

    @property
    def http(self) -> httpx.Client:
        """The ``httpx.Client`` for reads without a fast path (built on first use if given as a function)."""
        if not isinstance(self._http, httpx.Client):
            self._http = self._http()
        return self._http

    def _answer(self, url: str, what: str) -> Answer:
        """A small GET answer, through the fast path when there is one, retried when transient."""
        fetcher = self.fetcher
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("GET %s", url)

        def attempt() -> Answer:
            if fetcher is not None:
                answer = fetcher.get(url)
            else:
                answer = get_answer(self.http, url, self.limits, what)
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
            if not is_service_json(answer.content_type):
                self.confirm_service()
            error = error_from_answer(answer.status, answer.content_type, answer.body, what)
            if answer.status == 500 and "no such file" in (error.reason or ""):
                # The reason names the service's own filesystem path, which means nothing here.
                raise NotFoundError(
                    f"no directory at {path!r} in the registry", status=500, reason=error.reason
                ) from None
            raise error
        try:
            listing = json.loads(answer.body)
        except ValueError:
            listing = None
        if not isinstance(listing, list) or not all(isinstance(item, str) for item in listing):
            self.confirm_service()
            raise UnsafePathError(f"{what}: the service returned something other than a list of paths")
        for item in listing:
            checked_relative(item[:-1] if item.endswith("/") else item)
        return listing

    def read(self, path: str) -> bytes | None:
        """Fetch a small file's bytes, or ``None`` on 404."""
        checked_relative(path)
        what = f"fetch {path}"
        answer = self._answer(fetch_url(path), what)
        if answer.status != 200 and (answer.status == 404 or not is_service_json(answer.content_type)):
            self.confirm_service()
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise error_from_answer(answer.status, answer.content_type, answer.body, what)
        return answer.body

    def download(
        self,
        path: str,
        entry: Entry | None,
        verify: bool,
        *,
        retries: int | None = None,
        on_bytes: ByteCallback | None = None,
    ) -> Path:
        """Download ``path`` into the cache, hashing while receiving, and verify it against ``entry``.

        Raises:
            NotFoundError: On 404.
            IntegrityError: When the received bytes do not match ``entry`` (nothing is kept); a body
                longer than the entry is refused as soon as that is known (from its ``Content-Length``,
                else at the first chunk past the entry's size), so it never fills the disk.
        """
        what = f"fetch {path}"
        self.cache.path_for(path)  # a path the cache cannot hold fails before anything is sent
        retries = self.retries if retries is None else retries
        fetcher = self.fetcher
        expected = entry if verify else None
        # Verified or not, a download stops at the first byte past the manifest's size (PartialFile.write):
        # skipping the MD5 saves time, it does not let a lying server fill the disk.
        limit = entry.size if entry is not None else None
        # A large verified download keeps what it received when interrupted and later asks for the rest.
        resumable = expected is not None and expected.size >= RESUME_THRESHOLD

        def fast_receive(fetcher: Fetcher, partial: PartialFile) -> Answer | str:
            if expected is not None and wants_ranges(expected.size - partial.size):
                # A large verified file still to fetch goes as parallel ranges (one stream without range
                # support); unverified downloads stay one stream, which hashes nothing.
                return download_ranged(fetcher, fetch_url(path), partial, what)
            if not partial.resumable:
                return fetcher.download(fetch_url(path), partial, verify=verify and entry is not None)
            if partial.size == limit:
                return ""  # every byte arrived last time; only the rename was missed
            return fetcher.download(fetch_url(path), partial, verify=True, offset=partial.size)

        def httpx_receive(partial: PartialFile) -> Answer | str:
            offset = partial.size if partial.resumable else 0
            if offset and offset == limit:
                return ""
            headers = {"Range": range_header(offset, None)} if offset else None
            deadline = deadline_scope(self.limits.deadline())
            with deadline, self.http.stream("GET", fetch_url(path), headers=headers) as response:
                content_range = response.headers.get("content-range")
                appending = offset > 0 and resumed_answer(
                    response.status_code, content_range, _content_length(response), partial, what
                )
                if response.status_code != 200 and not appending:
                    body = read_capped_stream(response, self.limits.max_response_size, what)
                    return Answer(response.status_code, response.headers.get("content-type"), body)
                if not appending:
                    partial.check_announced(_content_length(response))
                for chunk in response.iter_bytes(CHUNK):
                    partial.write(chunk)
            return ""

        def attempt() -> Path:
            # A resumed file whose whole MD5 does not match is downloaded once more from its first byte:
            # its kept prefix may have been damaged, and nothing of it is kept now.
            for _ in range(2):
                hashing = expected is not None and fetcher is None
                partial = self.cache.begin(
                    path, hashing=hashing, on_bytes=on_bytes, limit=limit, resumable=resumable
                )
                try:
                    result = fast_receive(fetcher, partial) if fetcher is not None else httpx_receive(partial)
                except GobblerError:
                    partial.discard()
                    raise
                except BaseException:
                    partial.abandon()  # interrupted or disconnected: a resumable file keeps its bytes
                    raise
                try:
                    return _settle(result, partial, path, expected, self.confirm_service)
                except IntegrityError:
                    if not partial.resumed:
                        raise
                    logger.warning("%s: the resumed file does not match its manifest; starting over", what)
            raise AssertionError("unreachable")

        return with_retries(attempt, retries=retries, what=what)

    def download_many(
        self,
        items: Sequence[tuple[str, Entry | None]],
        *,
        concurrency: int,
        grow_to: int | None = None,
        on_done: Callable[[str, int], None] | None = None,
        on_bytes: ByteCallback | None = None,
        verify: bool = True,
        directories: DirectoryTable | None = None,
    ) -> None:
        """Download several files into the cache, each verified against its entry and moved into place.

        With the fast path, one thread keeps up to ``concurrency`` requests in flight, each on its own
        keep-alive connection (see :meth:`Fetcher.exchange_many`); a request that fails transiently is
        then retried on its own with the usual back-off. Verified files of ``RESUME_THRESHOLD`` bytes or
        more are then downloaded one by one, each resuming what an interrupted attempt kept. Without the
        fast path, ``concurrency`` threads share the ``httpx.Client``.

        Args:
            items: Registry paths with their manifest entries (``None`` downloads without a check).
            concurrency: Requests in flight at most (at first, when ``grow_to`` is given).
            grow_to: On the fast path, let the window grow up to this while throughput rises.
            on_done: Called with each path and its size once it is in place.
            on_bytes: Called with the size of each chunk as it arrives.
            verify: Check each file against its entry, as for :meth:`fetch` (without it, nothing is hashed).
            directories: The caller's table of the cache's directories (else one is held for this call).

        Raises:
            NotFoundError, IntegrityError, GobblerError: The first failure that retrying did not cure.
        """
        # The caching layer has checked every path against the cache before calling (one walk, not two).
        logger.debug("downloading %d files, up to %d at a time", len(items), concurrency)

        def finished(index: int) -> None:
            if on_done is not None:
                path, entry = items[index]
                on_done(path, entry.size if entry is not None else 0)

        def one(index: int) -> None:
            path, entry = items[index]
            self.download(path, entry, verify, on_bytes=on_bytes)
            finished(index)

        fetcher = self.fetcher
        if fetcher is None or len(items) <= 1:
            if concurrency <= 1 or len(items) <= 1:
                for index in range(len(items)):
                    one(index)
            else:
                with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="gobbler-fetch") as pool:
                    for _ in pool.map(one, range(len(items))):
                        pass
            return

        # The batch sends its requests before any file is opened, so it cannot ask for the rest of a file
        # an interrupted attempt kept: large verified files go one by one through ``download``, which does.
        large = {
            index
            for index, (_, entry) in enumerate(items)
            if verify and entry is not None and entry.size >= RESUME_THRESHOLD
        }
        # Positions in the batch are the items' own unless large files were taken out (a range: no list).
        batch: Sequence[int] = (
            range(len(items)) if not large else [index for index in range(len(items)) if index not in large]
        )

        def handle(index: int, response: http.client.HTTPResponse) -> None:
            path, entry = items[index]
            if verify and entry is not None and entry.size <= SMALL_FILE:
                data = _small_body(response, path, entry, self.limits.max_response_size)
                if isinstance(data, Answer):
                    raise _answer_error(data, path, self.confirm_service)
                table.store(path, data)
                if on_bytes is not None and data:
                    on_bytes(len(data))
                finished(index)
                return
            limit = entry.size if entry is not None else None  # the bound holds without verification too
            partial = self.cache.begin(path, hashing=False, on_bytes=on_bytes, limit=limit)
            try:
                result = receive(
                    response,
                    partial,
                    verify=verify and entry is not None,
                    limit=self.limits.max_response_size,
                )
            except BaseException:
                partial.discard()
                raise
            _settle(result, partial, path, entry if verify else None, self.confirm_service)
            finished(index)

        table = DirectoryTable(self.cache) if directories is None else directories
        try:
            failures = fetcher.exchange_many(
                _FetchUrls(items if not large else [items[index] for index in batch]),
                lambda position, response: handle(batch[position], response),
                window=concurrency,
                grow_to=grow_to,
            )
        finally:
            if directories is None:
                table.close()
        for position, exc in sorted(failures.items()):
            index = batch[position]
            path, entry = items[index]
            if not isinstance(exc, (RetryableStatus, *TRANSPORT_ERRORS)):
                raise exc
            if self.retries <= 0:
                raise final_error(exc, f"fetch {path}") from exc
            logger.info("fetch %s failed in the batch (%s); retrying it alone", path, type(exc).__name__)
            # The attempt in the batch was the first of the usual ``retries + 1``.
            self.download(path, entry, verify, retries=self.retries - 1, on_bytes=on_bytes)
            finished(index)
        for index in sorted(large):
            one(index)

    def read_range(
        self, path: str, start: int, end: int | None, *, md5: bool = False, size: int | None = None
    ) -> Slice:
        """Bytes ``start`` to ``end`` (exclusive; ``None``: the end of the file) through one ranged GET.

        Only the asked bytes are read from the socket (see :mod:`gobbler_sdk._ranges`); nothing is cached.

        Args:
            path: Registry-relative file path.
            start: First byte.
            end: End of the range (exclusive), ``None`` for the end of the file.
            md5: Hash the bytes while they arrive when they turn out to be the whole file.
            size: The file's size in its manifest entry: the answer must state it, which bounds what is
                read; without it, what is read into memory is capped at ``max_response_size``.

        Returns:
            The bytes (fewer when the file ends first; none from its end on) and the whole file's size.

        Raises:
            NotFoundError: On 404.
            RangeError: When the service answers with other bytes than asked.
            IntegrityError: When the answer states another size than ``size`` (before its body is read).
            ResponseTooLargeError: When, without ``size``, the body would exceed ``max_response_size``.
        """
        checked_relative(path)
        what = f"read {range_header(start, end)} of {path}"
        fetcher = self.fetcher

        def attempt() -> Slice:
            # The range's own deadline: a server that drips the bytes is cut off like any other read.
            with deadline_scope(self.limits.deadline()):
                if fetcher is not None:
                    result = fetcher.read_range(fetch_url(path), start, end, what, md5=md5, size=size)
                else:
                    result = self._read_range_httpx(path, start, end, what, size)
            if isinstance(result, Answer):
                if is_retryable_status(result.status, result.content_type):
                    raise RetryableStatus(result.status, result.content_type, result.body)
                if result.status == 404:
                    self.confirm_service()
                    raise NotFoundError(f"{what}: no such file in the registry", status=404)
                raise error_from_answer(result.status, result.content_type, result.body, what)
            return result

        return with_retries(attempt, retries=self.retries, what=what)

    def _read_range_httpx(
        self, path: str, start: int, end: int | None, what: str, size: int | None
    ) -> Answer | Slice:
        headers = {"Range": range_header(start, end)}
        with self.http.stream("GET", fetch_url(path), headers=headers) as response:
            # The body is read raw (``iter_raw``), so the raw ``Content-Length`` is the one that counts.
            length = response.headers.get("content-length")
            plan = plan_body(
                response.status_code,
                response.headers.get("content-range"),
                int(length) if length is not None and length.isdigit() else None,
                start,
                end,
                what,
            )
            if plan is None:
                body = read_capped_stream(response, self.limits.max_response_size, what)
                return Answer(response.status_code, response.headers.get("content-type"), body)
            check_bounds(plan, size, self.limits.max_response_size, what)
            pieces: list[bytes] = []
            wanted = 0 if plan.drain else plan.count
            received = 0
            for chunk in response.iter_raw(CHUNK):
                piece = chunk[: wanted - received]
                pieces.append(piece)
                received += len(piece)
                if received >= wanted:
                    break
            if received < wanted:
                raise ConnectionError(f"{what}: the connection closed after {received} of {wanted} bytes")
            return Slice(b"".join(pieces), plan.total)

    def close(self) -> None:
        """Close the fast-path connections (the ``httpx.Client`` belongs to the client, which closes it)."""
        if self.fetcher is not None:
            self.fetcher.close()


def _content_length(response: httpx.Response) -> int | None:
    """An httpx answer's ``Content-Length`` as a number, ``None`` when absent or malformed.

    Also ``None`` for an encoded body: the header then counts the encoded bytes, not the file's.
    """
    if response.headers.get("content-encoding", "identity").strip().lower() != "identity":
        return None
    length = response.headers.get("content-length")
    return int(length) if length is not None and length.isdigit() else None


class _FetchUrls(Sequence[str]):
    """The ``/fetch`` URL of each item, made when it is asked for (not 100,000 strings held at once)."""

    def __init__(self, items: Sequence[tuple[str, Entry | None]]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [fetch_url(path) for path, _ in self._items[index]]
        return fetch_url(self._items[index][0])


def _answer_error(answer: Answer, path: str, confirm_service: Callable[[], None]) -> Exception:
    """The exception for an error answer to ``GET /fetch/<path>`` (retryable, or the mapped error)."""
    if is_retryable_status(answer.status, answer.content_type):
        return RetryableStatus(answer.status, answer.content_type, answer.body)
    if answer.status == 404 or not is_service_json(answer.content_type):
        confirm_service()
    what = f"fetch {path}"
    if answer.status == 404:
        return NotFoundError(f"{what}: no such file in the registry", status=404)
    return error_from_answer(answer.status, answer.content_type, answer.body, what)


def _small_body(response: http.client.HTTPResponse, path: str, entry: Entry, limit: int) -> bytes | Answer:
    """A small file's whole body, checked against ``entry`` before anything is written.

    A body announced or found longer than the entry is refused as soon as that is known, reading at most
    one byte past the entry's size.

    Returns:
        The bytes of a 200, else the complete error :class:`Answer` (bounded by ``limit``).

    Raises:
        IntegrityError: When the size or MD5 differs from the entry.
        http.client.HTTPException, ConnectionError, TimeoutError: When the transfer breaks.
    """
    what = f"fetch {path}"
    if response.status != 200:
        body = read_capped(response, limit, f"HTTP {response.status} answer")
        return Answer(response.status, response.getheader("Content-Type"), body)
    bound = entry.size
    length = response.length
    if length is not None:
        if length > bound:
            raise IntegrityError(announced_message(what, length, bound))
        data = response.read()
    else:
        data = response.read(bound + 1)
        if len(data) > bound:
            raise IntegrityError(too_long_message(what, len(data), bound))
    problem = integrity_problem(entry, len(data), hashlib.md5(data).hexdigest())
    if problem is not None:
        raise IntegrityError(f"{what}: {problem}")
    return data


def _settle(
    result: Answer | str,
    partial: PartialFile,
    path: str,
    expected: Entry | None,
    confirm_service: Callable[[], None],
) -> Path:
    """Finish a fast-path download: map an error answer to its exception, else verify and commit."""
    if isinstance(result, Answer):
        if is_retryable_status(result.status, result.content_type):
            partial.abandon()  # a resumable file keeps its bytes for the retry
        else:
            partial.discard()
        raise _answer_error(result, path, confirm_service)
    # ``""``: not hashed on the way (no entry to check, or a resumable file that hashes its own bytes).
    return partial.commit(expected, f"fetch {path}", digest=result or None)
