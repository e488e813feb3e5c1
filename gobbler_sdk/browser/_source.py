"""The only part of the browser that talks to the registry: the sync client, called from a thread pool.

Every page handler awaits a method of :class:`RegistrySource`; nothing else in the package holds a
:class:`~gobbler_sdk.GobblerClient`. When an asynchronous client exists, this module is the one to change.
Reads go through the public API only (handles, ``listing``, ``read_range``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from ..errors import NotFoundError, ServiceError

if TYPE_CHECKING:
    from .. import GobblerClient, Manifest, ManifestEntry, Permissions, Summary, Version

__all__ = ["AssetVersion", "ProjectFacts", "RangeReader", "RegistrySource", "VersionFiles"]

_T = TypeVar("_T")

# Manifests of versions never change once written (a version is only ever approved or removed), so the
# entries of the few most recently viewed stay in memory for a while: paging through a 20,000-file table
# re-reads nothing. (A version removed and uploaded again under the same name shows within a minute.)
_MANIFESTS_KEPT = 6
_MANIFEST_SECONDS = 60.0


@dataclass(frozen=True)
class AssetVersion:
    """One row of an asset's version table.

    Attributes:
        name: The version's name.
        latest: Whether the asset's ``..latest`` names it.
        probation: Whether it awaits approval (``None`` when its summary is unreadable).
        uploader: Who uploaded it.
        finished: When its upload finished.
        files: How many files it holds (links included, empty directories not).
        size: Bytes of all its files, links counted at their targets' size.
        problem: Why its summary or manifest could not be read, if so.
    """

    name: str
    latest: bool
    probation: bool | None
    uploader: str | None
    finished: datetime | None
    files: int | None
    size: int | None
    problem: str | None = None


@dataclass(frozen=True)
class ProjectFacts:
    """What a project page shows besides its assets.

    Attributes:
        permissions: Owners, uploaders and the global-write flag (``None`` when unreadable).
        usage: Bytes the service records as used (``None`` when unreadable).
    """

    permissions: Permissions | None
    usage: int | None


class VersionFiles:
    """A version's manifest with the figures its pages show, computed once and kept with it.

    Entries (:class:`~gobbler_sdk.ManifestEntry` objects) are built only for the paths shown, unless a
    page sorts by size or MD5 or compares versions (:meth:`entries`, built once): a 20,000-file version's
    first page needs none but the hundred it shows.

    Attributes:
        paths: Every path, in the manifest's order (empty directories included).
        directories: The paths that are empty directories.
        file_count: Files, links included, empty directories not.
        link_count: Files that are links.
        stored_size: Bytes of the files that are not links.
        total_size: Bytes of all files, links counted at their targets' size.
    """

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.paths = list(manifest)
        self.directories = set(manifest.empty_directories())
        linked = manifest.linked()
        self.file_count = len(manifest.files())
        self.link_count = len(linked)
        self.stored_size = manifest.stored_size
        self.total_size = manifest.total_size
        self._entries: dict[str, ManifestEntry] | None = None
        self._lock = threading.Lock()

    def get(self, path: str) -> ManifestEntry | None:
        """The entry of ``path``, or ``None``."""
        return self.manifest.get(path)

    @property
    def has_entries(self) -> bool:
        """Whether :meth:`entries` is built already."""
        return self._entries is not None

    def entries(self) -> dict[str, ManifestEntry]:
        """Every path with its entry (built on first call; call it from a worker thread)."""
        with self._lock:
            if self._entries is None:
                self._entries = dict(self.manifest.items())
            return self._entries


class RangeReader:
    """Ranged reads of one registry file, bounded in total bytes and in time (for previews).

    Args:
        client: The client to read through.
        path: ``project/asset/version/file``.
        entry: The file's manifest entry (its size bounds the reads).
        budget: Most bytes all reads together may return.
        deadline: ``time.monotonic()`` value after which reads fail.
    """

    def __init__(
        self, client: GobblerClient, path: str, entry: ManifestEntry, budget: int, deadline: float
    ) -> None:
        self._client = client
        self.path = path
        self.size = entry.size
        self._entry = entry
        self._left = budget
        self._deadline = deadline
        self.read_bytes = 0

    def __call__(self, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive, clipped at the file's end).

        Raises:
            PreviewLimitError: When the byte budget or the time runs out.
        """
        end = min(end, self.size)
        if end <= start:
            return b""
        if time.monotonic() > self._deadline:
            raise PreviewLimitError("the preview took too long")
        if end - start > self._left:
            raise PreviewLimitError("the preview would read too many bytes")
        data = self._client.read_range(self.path, start, end, entry=self._entry, verify=False)
        self._left -= len(data)
        self.read_bytes += len(data)
        return data


class PreviewLimitError(Exception):
    """A preview hit its byte or time bound."""


class RegistrySource:
    """Asynchronous reads of a registry for the web pages, through a sync client in worker threads.

    Args:
        client: The client whose registry is shown (mounted or remote).
        workers: Threads reading at once.
    """

    def __init__(self, client: GobblerClient, *, workers: int = 8) -> None:
        self._client = client
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gobbler-browse")
        self.manifests: OrderedDict[str, tuple[float, VersionFiles]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        """Where the registry is, for the page header (the service's URL)."""
        return self._client.url

    @property
    def transport(self) -> str:
        """``"local"`` (mounted registry) or ``"remote"`` (HTTP)."""
        return self._client.transport.kind

    def close(self) -> None:
        """Stop the worker threads (the client stays open; its owner closes it)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def run(self, function: Callable[[], _T]) -> _T:
        """Run ``function`` in a worker thread and return its result."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, function)

    def soon(self, function: Callable[[], object]) -> None:
        """Run ``function`` in a worker thread without waiting for it (work a later page will want)."""
        self._pool.submit(function)

    def _version(self, project: str, asset: str, version: str) -> Version:
        return self._client.project(project).asset(asset).version(version)

    # -------------------------------------------------------------------------------- names

    async def projects(self) -> list[str]:
        """Names of every project."""
        return await self.run(lambda: [p.name for p in self._client.projects()])

    async def assets(self, project: str) -> list[str]:
        """Names of the project's assets (``NotFoundError`` when there is no such project)."""
        return await self.run(lambda: [a.name for a in self._client.project(project).assets()])

    async def version_names(self, project: str, asset: str) -> list[str]:
        """Names of the asset's versions, in natural order."""
        return await self.run(lambda: [v.name for v in self._client.project(project).asset(asset).versions()])

    async def latest(self, project: str, asset: str) -> str | None:
        """The name of the asset's latest version, if any."""

        def read() -> str | None:
            found = self._client.project(project).asset(asset).latest()
            return found.name if found is not None else None

        return await self.run(read)

    # ------------------------------------------------------------------------------ details

    async def project_facts(self, project: str) -> ProjectFacts:
        """Permissions and usage of a project (each ``None`` when unreadable)."""

        def read() -> ProjectFacts:
            handle = self._client.project(project)
            try:
                permissions: Permissions | None = handle.permissions()
            except (NotFoundError, ServiceError):
                permissions = None
            try:
                usage: int | None = handle.usage()
            except (NotFoundError, ServiceError):
                usage = None
            return ProjectFacts(permissions, usage)

        return await self.run(read)

    async def versions(self, project: str, asset: str) -> list[AssetVersion]:
        """Every version of the asset with its summary and manifest figures, newest name last."""
        names, latest = await asyncio.gather(self.version_names(project, asset), self.latest(project, asset))
        return list(await asyncio.gather(*(self._row(project, asset, name, latest) for name in names)))

    async def _row(self, project: str, asset: str, name: str, latest: str | None) -> AssetVersion:
        try:
            summary = await self.summary(project, asset, name)
            files = await self.files(project, asset, name)
        except (NotFoundError, ServiceError) as exc:
            return AssetVersion(name, name == latest, None, None, None, None, None, problem=str(exc))
        return AssetVersion(
            name=name,
            latest=name == latest,
            probation=summary.on_probation,
            uploader=summary.upload_user_id,
            finished=summary.upload_finish,
            files=files.file_count,
            size=files.total_size,
        )

    async def summary(self, project: str, asset: str, version: str) -> Summary:
        """The version's summary."""
        return await self.run(lambda: self._version(project, asset, version).summary())

    async def files(self, project: str, asset: str, version: str) -> VersionFiles:
        """The version's manifest and its figures (kept for a minute)."""
        key = f"{project}/{asset}/{version}"
        now = time.monotonic()
        with self._lock:
            kept = self.manifests.get(key)
            if kept is not None and now - kept[0] < _MANIFEST_SECONDS:
                self.manifests.move_to_end(key)
                return kept[1]
        files = await self.run(lambda: VersionFiles(self._version(project, asset, version).manifest()))
        with self._lock:
            self.manifests[key] = (now, files)
            while len(self.manifests) > _MANIFESTS_KEPT:
                self.manifests.popitem(last=False)
        return files

    # -------------------------------------------------------------------------------- bytes

    def range_reader(self, path: str, entry: ManifestEntry, *, budget: int, seconds: float) -> RangeReader:
        """A bounded ranged reader of one file, to call from :meth:`run`."""
        return RangeReader(self._client, path, entry, budget, time.monotonic() + seconds)

    async def read_range(self, path: str, start: int, end: int, entry: ManifestEntry) -> bytes:
        """Bytes ``start`` to ``end`` of a registry file (one chunk of a download)."""
        return await self.run(lambda: self._client.read_range(path, start, end, entry=entry, verify=False))
