"""Reading a registry over the service's REST API, through a verified cache.

:class:`RemoteTransport` is the caching layer composed over the raw HTTP layer
(:class:`~gobbler_sdk.transports._service.ServiceReader`). It owns every decision about asking the
service: a verified cached copy is served without a request; offline, nothing is sent and what is not cached
raises :class:`~gobbler_sdk.errors.NotCachedError`; with the service unreachable, a settled version that is
completely cached is still served, with a warning; internal documents of a version are kept, and read
again unless a kept copy may be reused (the document store decides when, see :mod:`gobbler_sdk._documents`).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import httpx

from .._cache import Cache
from .._cache_manager import CacheManager
from .._fetcher import Fetcher
from .._limits import ReadLimits
from .._log import logger
from .._pathsafety import checked_relative
from .._ranges import Slice, read_file_range
from .._records import Entry
from ..errors import (
    LocalPermissionError,
    NotCachedError,
    NotFoundError,
    ServiceUnavailableError,
    UnsafePathError,
)
from ..models import Manifest, Summary
from ._service import ServiceReader
from .base import ByteCallback, FileCallback

__all__ = ["RemoteTransport"]

# The registry's own files in a version directory, in the order a cached listing gives them.
_VERSION_DOCUMENTS = ("..manifest", "..summary", "..links")
# The documents of a version that never change once it is settled.
_REUSED_DOCUMENTS = ("..manifest", "..summary")
_REUSABLE = tuple(f"/{name}" for name in _REUSED_DOCUMENTS)
#: Seconds after which a client checks again that a cached version is still the service's (5 minutes: a
#: long-running application notices a version deleted and uploaded again within minutes, for the price of
#: one small request per version in use every 5 minutes).
DEFAULT_REVALIDATE_AFTER = 300.0


def _version_key(path: str) -> str | None:
    """``project/asset/version`` of a path inside a version, or ``None`` (the journal, a listing above)."""
    parts = path.split("/")
    if len(parts) < 3 or any(part.startswith("..") for part in parts[:3]):
        return None
    return "/".join(parts[:3])


def _identity(summary: bytes | None) -> tuple[str, str, str] | None:
    """Who uploaded a version and when: what approval leaves alone and a new upload always changes."""
    if summary is None:
        return None
    try:
        parsed = Summary.model_validate_json(summary)
    except ValueError:
        return None
    return (parsed.upload_user_id, parsed.upload_start.isoformat(), parsed.upload_finish.isoformat())


def _is_internal(path: str) -> bool:
    return any(part.startswith("..") for part in path.split("/"))


class RemoteTransport:
    """Read the registry through the service's HTTP API, keeping verified copies in a cache.

    Args:
        http: A pooled ``httpx.Client`` whose base URL is the service's URL, or a function returning one
            when first needed.
        cache: Where downloaded files are kept.
        retries: Further attempts for idempotent GETs after a transient failure.
        fetcher: Fast path for reads; ``None`` sends everything through ``http``.
        offline: Answer from the cache only: nothing is sent, and what is not cached raises
            :class:`~gobbler_sdk.errors.NotCachedError`.
        limits: Deadlines and the size cap of answers (the fetcher's own when ``None`` and there is one,
            else derived from a 30 s time-out).
        identify: Called before a 404 or an odd answer is believed: raises
            :class:`~gobbler_sdk.errors.ConfigurationError` when the URL is not a Gobbler service at all
            (:meth:`GobblerClient.service_info <gobbler_sdk.GobblerClient.service_info>`, which asks once).
        origin: The service's URL, recorded beside each cached version: entries cached from another
            service are never served for this one. ``None`` records and checks nothing.
        revalidate_after: Seconds after which a cached version is confirmed again (see below).

    Before anything cached of a version is served online, the version is confirmed once per
    ``revalidate_after`` seconds: its summary is asked of the service (one small request) and compared with
    the cached one (uploader, upload start and finish) and the recorded origin. On a mismatch (the version
    was deleted and uploaded again, or the entry came from another service) the version's cached documents
    and files are dropped and read again, logged at INFO. Offline, or with the service unreachable, the
    cached copy is served as it is.
    """

    kind = "remote"

    def __init__(
        self,
        http: httpx.Client | Callable[[], httpx.Client],
        cache: Cache,
        *,
        retries: int = 3,
        fetcher: Fetcher | None = None,
        offline: bool = False,
        limits: ReadLimits | None = None,
        identify: Callable[[], object] | None = None,
        origin: str | None = None,
        revalidate_after: float = DEFAULT_REVALIDATE_AFTER,
    ) -> None:
        self.cache = cache
        self.offline = offline
        self.origin = origin
        # Which service each cached version came from, beside the mirrored registry (the cache manager
        # counts what a version's directory holds): <cache>/ORIGINS/<project>/<asset>/<version>.
        self._origins = Cache(cache.root, area="ORIGINS")
        self.revalidate_after = revalidate_after
        self._settled: set[str] = set()
        # Version key -> when this transport last confirmed its cached copy with the service (monotonic).
        self._confirmed: dict[str, float] = {}
        # Versions whose origin record this transport has written or read as its own.
        self._recorded: set[str] = set()
        self._lock = threading.Lock()
        self.service = ServiceReader(
            http,
            cache,
            retries=retries,
            fetcher=fetcher,
            limits=limits or (fetcher.limits if fetcher is not None else ReadLimits(30.0)),
            identify=identify,
        )

    def __repr__(self) -> str:
        return f"RemoteTransport(cache={str(self.cache.root)!r})"

    @property
    def fetcher(self) -> Fetcher | None:
        """The fast path for reads (``None`` when everything goes through ``httpx``)."""
        return self.service.fetcher

    @property
    def limits(self) -> ReadLimits:
        """Deadlines and the size cap of answers."""
        return self.service.limits

    def _online(self, what: str) -> None:
        """Refuse to send anything in offline mode (the one check every request passes)."""
        if self.offline:
            raise NotCachedError(f"{what}: not cached, and offline mode sends no request to the service")

    # ------------------------------------------------------------------ is the cached copy current?

    def forget(self, key: str) -> None:
        """Confirm the versions at or below ``key`` again before their cached copies are next served.

        Args:
            key: ``project``, ``project/asset`` or ``project/asset/version`` that this client changed.
        """
        below = key + "/"
        with self._lock:
            for known in [k for k in self._confirmed if k == key or k.startswith(below)]:
                del self._confirmed[known]
            self._settled = {k for k in self._settled if k != key and not k.startswith(below)}

    def _drop(self, key: str, why: str) -> None:
        logger.info("%s: %s; its cached copy is dropped and read again", key, why)
        with self._lock:
            self._settled.discard(key)
        try:
            CacheManager(self.cache).remove(key)
        except LocalPermissionError as exc:
            # Another account's entries in a shared cache: the stale (or planted) copy cannot be replaced.
            raise LocalPermissionError(
                f"{key}: {why}, and its cached copy cannot be dropped ({exc})",
                errno=exc.errno,
                filename=exc.filename,
            ) from exc

    def _confirm(self, key: str | None) -> bool:
        """Make sure what is cached of version ``key`` may be served (see the class's description).

        Returns:
            Whether anything cached of it still stands (``False`` once it was dropped).
        """
        if key is None:
            return True
        if not self.offline:
            with self._lock:
                last = self._confirmed.get(key)
            # Confirmed a moment ago (the usual case on a hot path): nothing to look at on disk.
            if last is not None and time.monotonic() - last < self.revalidate_after:
                return True
        kept_documents = any(self.cache.open_file_exists(f"{key}/{name}") for name in _REUSED_DOCUMENTS)
        recorded = self._origins.read_bytes(key)
        if not kept_documents and recorded is None:
            # Nothing cached says what the files are checked against: nothing to confirm.
            return True
        if self.offline:
            if self.origin is not None and recorded is not None and recorded != self.origin.encode():
                source = recorded.decode(errors="replace")
                raise NotCachedError(f"{key} is cached from another service ({source}), not {self.origin}")
            return True
        try:
            fresh = self.service.read(f"{key}/..summary")
        except ServiceUnavailableError as exc:
            logger.info("%s could not be re-checked (%s); its cached copy is served as it is", key, exc)
            return True
        return self._settle_summary(key, fresh, recorded)

    def _settle_summary(self, key: str, fresh: bytes | None, recorded: bytes | None = None) -> bool:
        """Compare a summary just read from the service with what is cached; keep it and its origin.

        Returns:
            Whether the cached copy stands (``False`` when it was dropped).
        """
        dropped = True
        kept = self.cache.read_bytes(f"{key}/..summary")
        origin = self.origin.encode() if self.origin is not None else None
        if recorded is None:
            recorded = origin if key in self._recorded else self._origins.read_bytes(key)
        if fresh is not None and fresh == kept and recorded == origin:
            # The very bytes already kept, from this service: confirmed, nothing to parse or write.
            with self._lock:
                self._confirmed[key] = time.monotonic()
            return True
        if fresh is None:
            if kept is not None:
                self._drop(key, "the service no longer has it")
        elif origin is not None and recorded is not None and recorded != origin:
            self._drop(key, f"it was cached from another service ({recorded.decode(errors='replace')})")
        elif kept is not None and _identity(kept) != _identity(fresh):
            self._drop(key, "it was uploaded again since it was cached")
        elif kept is None and recorded is None and self.cache.open_file_exists(f"{key}/..manifest"):
            # Cached before versions were confirmed (or by another client): nothing says whose it is.
            self._drop(key, "nothing records which upload it was cached from")
        else:
            dropped = False
        if fresh is not None:
            self.cache.write_bytes(f"{key}/..summary", fresh)
            if origin is not None and recorded != origin:
                self._origins.write_bytes(key, origin)
            self._recorded.add(key)
        with self._lock:
            self._confirmed[key] = time.monotonic()
        return not dropped

    def _learn_latest(self, path: str, data: bytes) -> None:
        """``..latest`` only ever names a non-probational version, and approval is never undone."""
        try:
            name = json.loads(data)["version"]
        except (ValueError, TypeError, KeyError):
            return
        if isinstance(name, str) and name and "/" not in name and not name.startswith(".."):
            with self._lock:
                self._settled.add(f"{path.rpartition('/')[0]}/{name}")

    def _settle_manifest(self, key: str, fresh: bytes | None) -> None:
        """Keep a manifest just read from the service; a different kept one means the version changed."""
        kept = self.cache.read_bytes(f"{key}/..manifest")
        origin = self.origin.encode() if self.origin is not None else None
        # This transport recorded the origin itself already: no need to read it back.
        recorded = origin if key in self._recorded else self._origins.read_bytes(key)
        if fresh is not None and fresh == kept and recorded == origin:
            # The very bytes already kept, from this service: confirmed, nothing to write.
            with self._lock:
                self._confirmed[key] = time.monotonic()
            return
        if kept is not None and fresh != kept:
            self._drop(key, "its cached manifest is not the service's")
        elif origin is not None and recorded is not None and recorded != origin:
            self._drop(key, f"it was cached from another service ({recorded.decode(errors='replace')})")
        if fresh is None:
            return
        self.cache.write_bytes(f"{key}/..manifest", fresh)
        if origin is not None and recorded != origin:
            self._origins.write_bytes(key, origin)
        self._recorded.add(key)
        with self._lock:
            # The files are checked against this very manifest: the cached copy is current.
            self._confirmed[key] = time.monotonic()

    def confirmation(self, key: str) -> float | None:
        """When version ``key``'s cached copy was last confirmed, if that still holds; else ``None``.

        A value (a :func:`time.monotonic` stamp) means that, until ``revalidate_after`` seconds after it,
        this transport serves the version's cached documents without asking the service, so whatever a
        caller derived from them under the same stamp is still what a read would give. Any later
        confirmation, drop or :meth:`forget` gives another stamp or ``None``. Offline there is none (the
        cache is read every time).
        """
        if self.offline:
            return None
        with self._lock:
            last = self._confirmed.get(key)
        if last is None or time.monotonic() - last >= self.revalidate_after:
            return None
        return last

    # ------------------------------------------------------------------ what the cache says

    def _settled_in_cache(self, path: str) -> bool:
        """Whether ``path`` lies in a version whose cached summary says it is not probational."""
        parts = path.split("/")
        if len(parts) < 3 or any(part.startswith("..") for part in parts[:3]):
            return False
        key = "/".join(parts[:3])
        self._confirm(key)
        if key in self._settled:
            return True
        data = self.cache.read_bytes(key + "/..summary")
        if data is None:
            return False
        try:
            settled = Summary.model_validate_json(data).on_probation is False
        except ValueError:
            return False
        if settled:
            # Approval is never undone: once seen settled, the version's cached summary need not be read
            # again by this transport.
            self._settled.add(key)
        return settled

    def _kept_document(self, path: str) -> bytes | None:
        """The kept copy of a document; online, ``None`` too when another account wrote it.

        In a shared cache another account could have planted a version's documents before this one first
        read it (a genuine summary, a forged manifest and files matching it): files are verified against
        the manifest, so a manifest this account did not write is read from the service again (and the
        version's cached copy dropped when they differ) before anything is checked against it. Offline
        there is nothing to check against, and the kept copy is served as it is.
        """
        fd = self.cache.open_file(path)
        if fd is None:
            return None
        with open(fd, "rb") as handle:
            if not self.offline and os.fstat(fd).st_uid != os.geteuid():
                logger.info("%s was cached by another account; it is read from the service again", path)
                return None
            return handle.read()

    def _cached_listing(self, relative: str) -> list[str]:
        """The recursive listing of a version's directory as its cached manifest describes it.

        Raises:
            NotCachedError: When ``relative`` is above a version, or the version's manifest is not cached.
        """
        parts = relative.split("/")
        if len(parts) < 3:
            raise NotCachedError(
                f"listing {relative} needs the service: only version directories are served from the cache"
            )
        key = "/".join(parts[:3])
        data = self.cache.read_bytes(f"{key}/..manifest")
        if data is None:
            raise NotCachedError(f"{key} is not cached (no manifest in {self.cache.root})")
        try:
            manifest = Manifest.from_json(data)
        except ValueError:
            raise NotCachedError(f"{key} is not cached (its cached manifest is unreadable)") from None
        inside = "/".join(parts[3:])
        prefix = f"{inside}/" if inside else ""
        files: list[str] = []
        empty: list[str] = []
        if not inside:
            files.extend(name for name in _VERSION_DOCUMENTS if self.cache.valid(f"{key}/{name}", None))
        for item, entry in manifest.items():
            if not item.startswith(prefix):
                continue
            below = item[len(prefix) :]
            (empty if entry.is_directory else files).append(below + ("/" if entry.is_directory else ""))
        if not files and not empty and inside:
            raise NotCachedError(f"no directory at {relative!r} in the cached manifest of {key}")
        return files + empty

    # ------------------------------------------------------------------ the protocol

    def list(self, path: str, *, recursive: bool = False) -> list[str]:
        """List a directory through ``GET /list`` (see :class:`~gobbler_sdk.transports.Transport`).

        Offline, or with the service unreachable for a settled version, a version directory is listed
        from its cached manifest.

        Raises:
            NotFoundError: When the directory does not exist.
            NotCachedError: Offline, when the listing cannot be made from the cache.
            UnsafePathError: When the service returns a path that is absolute or climbs.
        """
        if self.offline:
            if recursive and path:
                return self._cached_listing(path)
            self._online(f"list {path or 'the registry'}")
        try:
            return self.service.list(path, recursive=recursive)
        except ServiceUnavailableError as exc:
            if not (recursive and self._settled_in_cache(path)):
                raise
            try:
                listing = self._cached_listing(path)
            except NotCachedError:
                raise exc from None
            logger.warning("%s; serving %s from the cache", exc, path)
            return listing

    def read(self, path: str, *, reuse: bool = False) -> bytes | None:
        """A small registry file, asked of the service and kept in the cache.

        With ``reuse``, the kept copy of a settled version's ``..summary`` or ``..manifest`` answers instead:
        the service never rewrites them (only approval rewrites a summary, and only of a probational
        version). Offline, any kept copy answers. Every document read from the service is kept, so that it
        can be read offline or while the service is unreachable.

        Raises:
            NotCachedError: Offline, when no copy is kept.
        """
        checked_relative(path)
        key = _version_key(path)
        if self.offline:
            self._confirm(key)
        if self.offline or (reuse and path.endswith(_REUSABLE) and self._settled_in_cache(path)):
            data = self._kept_document(path)
            if data is not None:
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug("cache hit: %s", path)
                return data
            self._online(path)
        if reuse and logger.isEnabledFor(logging.DEBUG):
            logger.debug("cache miss: %s", path)
        data = self.service.read(path)
        if key is None and data is not None and path.endswith("/..latest"):
            self._learn_latest(path, data)
        if key is not None and path == f"{key}/..summary":
            # A summary just read confirms the cached version (or shows it was replaced).
            self._settle_summary(key, data)
        elif key is not None and path == f"{key}/..manifest":
            self._settle_manifest(key, data)
        elif data is not None:
            self.cache.write_bytes(path, data)
        return data

    def fetch(
        self,
        path: str,
        *,
        entry: Entry | None = None,
        overwrite: bool = False,
        verify: bool = True,
        on_bytes: ByteCallback | None = None,
    ) -> Path:
        """Return a verified cached copy of a registry file, downloading it when needed.

        Internal ``..`` files change (a summary on approval), so online they are always downloaded again;
        with the service unreachable, those of a settled version are served from the cache, with a
        warning.

        Raises:
            NotCachedError: Offline, when no valid copy is cached (or ``overwrite`` is asked).
        """
        internal = _is_internal(path)
        again = overwrite or (internal and not self.offline)
        if (
            not again
            and self._confirm(_version_key(path))
            and self.cache.valid(path, entry if verify else None)
        ):
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("cache hit: %s", path)
            return self.cache.local_path(path)
        self._online(f"fetch {path}")
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("cache miss: downloading %s", path)
        try:
            return self.service.download(path, entry, verify, on_bytes=on_bytes)
        except ServiceUnavailableError as exc:
            if not (internal and self._settled_in_cache(path) and self.cache.valid(path, None)):
                raise
            logger.warning("%s; serving %s from the cache", exc, path)
            return self.cache.local_path(path)

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
        """Download what is not cached and verified; return the cache's registry root.

        Files whose manifest entries link to the same final target share one download, and the other
        names get a hard link (or a copy) of the verified bytes inside the cache. Internal files of a
        version known settled (its cached summary says so) are served as cached; others are downloaded
        again. Offline, everything must already be cached.

        Raises:
            NotCachedError: Offline, when something is not cached (and valid).
        """
        # Each directory is reached once for the whole batch (see DirectoryTable).
        with self.cache.directories() as table:
            # A path the cache cannot hold fails before anything is sent.
            files: list[tuple[str, Entry | None]] = []
            for item in items:
                path = item[0]
                if path.endswith("/"):
                    self.cache.directory_for(path.rstrip("/"))
                else:
                    table.place(path)
                    files.append(item)
            # Files sharing bytes (links, and the files they point to) form groups; every other file is
            # alone, and is not given a group of its own (a list per file of a 100,000-file download).
            sources = {e.link.final.registry_path for _, e in files if e is not None and e.link is not None}
            groups: dict[str, list[tuple[str, Entry | None]]] = {}
            settled: dict[str, bool] = {}

            def kept(path: str, entry: Entry | None) -> bool:
                if entry is None:
                    key = "/".join(path.split("/")[:3])
                    if key not in settled:
                        settled[key] = self._settled_in_cache(path)
                    if not (self.offline or settled[key]):
                        return False
                return table.valid(path, entry if verify else None)

            if not overwrite or self.offline:
                for key in sorted({key for path, _ in files if (key := _version_key(path)) is not None}):
                    self._confirm(key)
            reuse = not overwrite or self.offline
            downloads: list[tuple[str, Entry | None]] = []
            for item in files:
                path, entry = item
                if sources and (path in sources or (entry is not None and entry.link is not None)):
                    source = entry.link.final.registry_path if entry is not None and entry.link else path
                    groups.setdefault(source, []).append(item)
                elif not (reuse and kept(path, entry)):
                    downloads.append(item)
                elif on_done is not None:
                    on_done(path, entry.size if entry else 0, False)
            # Each group's bytes come from a verified cached member when there is one, else from one download.
            holders: list[str] = []
            for members in groups.values():
                holder = None
                if reuse:
                    holder = next((p for p, e in members if kept(p, e)), None)
                if holder is None:
                    holder = members[0][0]
                    downloads.append(members[0])
                elif on_done is not None:
                    on_done(holder, members[0][1].size if members[0][1] else 0, False)
                holders.append(holder)
            if downloads and self.offline:
                raise NotCachedError(
                    f"not completely cached: {len(downloads)} file(s) missing or invalid,"
                    f" such as {downloads[0][0]!r}"
                )

            def streamed(path: str, size: int) -> None:
                if on_done is not None:
                    on_done(path, size, True)

            def placed(path: str, size: int) -> None:
                if on_done is not None:
                    on_done(path, size, False)

            if downloads:
                # Internal files (no entry, so no size) do not feed the byte counter.
                internal = [item for item in downloads if item[1] is None]
                if internal:
                    self.service.download_many(
                        internal, concurrency=concurrency, on_done=placed, directories=table
                    )
                self.service.download_many(
                    [item for item in downloads if item[1] is not None],
                    concurrency=concurrency,
                    verify=verify,
                    on_done=streamed,
                    on_bytes=on_bytes,
                    grow_to=grow_to,
                    directories=table,
                )
            for members, holder in zip(groups.values(), holders, strict=True):
                for other, other_entry in members:
                    if other == holder:
                        continue
                    if overwrite or not table.valid(other, other_entry if verify else None):
                        self.cache.copy_within(holder, other)
                    if on_done is not None:
                        on_done(other, other_entry.size if other_entry else 0, False)
            if downloads:
                # A client killed mid-download leaves its temporary file; the next download of the same
                # directory takes it away once it is old enough not to belong to a download still running.
                self.cache.sweep_temporary({path.rpartition("/")[0] for path, _ in downloads})
            return self.cache.registry_root

    def read_range(
        self, path: str, start: int, end: int | None, *, md5: bool = False, size: int | None = None
    ) -> Slice:
        """Bytes ``start`` to ``end`` through one ranged GET; offline, from the cached copy.

        Online the read is bounded by ``size`` (the manifest's) or else ``max_response_size`` before its
        body is read; a cached copy was verified when it was downloaded.

        Raises:
            NotFoundError: On 404.
            RangeError: When the service answers with other bytes than asked.
            IntegrityError: When the answer states another size than ``size``.
            ResponseTooLargeError: Without ``size``, when the body would exceed ``max_response_size``.
            NotCachedError: Offline, when the file is not cached.
        """
        checked_relative(path)
        if self.offline:
            # Offline, a cached copy (verified when it was downloaded) is read instead.
            self._confirm(_version_key(path))
            try:
                return read_file_range(self.cache.path_for(path), start, end, md5=md5, nofollow=True)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                self._online(f"read {path}")
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                raise UnsafePathError(
                    f"read {path}: the cached copy is a symlink, which the cache never makes"
                ) from None
        return self.service.read_range(path, start, end, md5=md5, size=size)

    def open(self, path: str) -> BinaryIO:
        """Open the cached copy of a file (downloaded first when it is not cached), never through a link."""
        fd = self.cache.open_file(path)
        if fd is None:
            self.fetch(path)
            fd = self.cache.open_file(path)
            if fd is None:
                raise NotFoundError(f"{path} vanished from the cache while being opened")
        return open(fd, "rb")

    def local_path(self, path: str) -> Path | None:
        """``None``: files are brought over HTTP (see :meth:`fetch`)."""
        return None

    def close(self) -> None:
        """Close the fast-path connections (the ``httpx.Client`` belongs to the client, which closes it)."""
        self.service.close()
