"""The async client: the sync client's core, awaited from coroutines.

Typical use::

    from gobbler_sdk import AsyncGobblerClient

    async with AsyncGobblerClient("http://gobbler.example:8080") as client:
        version = client.project("my-project").asset("my-asset").version("v1")
        manifest = await version.manifest()
        local = await version.fetch_directory(allow_patterns="*.csv")
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from .._arguments import items_of
from .._config import TransportChoice
from .._downloads import DirectoryOptions, FileOptions, RangeOptions
from .._limits import DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_MIN_READ_RATE, DEFAULT_SUBMIT_TIMEOUT
from ..changes import ChangeEvent
from ..client import GobblerClient
from ..handles import Asset, Project, Version
from ..models import ManifestEntry, RerouteChange, ServiceInfo, Uploader
from ..transports import Transport
from ..transports.remote import DEFAULT_REVALIDATE_AFTER
from ._handles import AsyncAsset, AsyncProject, AsyncVersion
from ._offload import Offload

if sys.version_info >= (3, 11):
    from typing import Unpack
else:
    from typing_extensions import Unpack

__all__ = ["AsyncGobblerClient"]

T = TypeVar("T")


class AsyncGobblerClient:
    """A session with one Gobbler registry and its service, for asyncio applications.

    The arguments, environment variables, defaults, errors, cache, offline mode and revalidation are those
    of :class:`~gobbler_sdk.GobblerClient` (see there for each argument): the async client runs the very
    same core, so an async and a sync client on one cache directory share their verified entries, in one
    process or several.

    Every method that does I/O is a coroutine; creating a handle does none. The work itself (requests,
    hashing, copying into staging, writing the cache) runs on the client's worker threads, so the event
    loop is never blocked by it. At most ``concurrency`` operations (default 8) run at once; more wait
    their turn without holding a thread or a connection. Each running operation holds at most one
    connection to the service, except a directory download, whose window of requests grows up to 64 while
    that raises throughput. So the connections a client opens are at most ``concurrency`` (plus one for
    ``/info`` and submissions) outside directory downloads.

    Cancelling a task stops its operation at the next safe point and waits for its cleanup (no temporary
    file, no half-written cache entry); an upload or other submission cancelled after its request was
    handed to the service raises :class:`~gobbler_sdk.errors.OutcomeUnknownError` and is never resent.

    Raises:
        ConfigurationError: As for :class:`~gobbler_sdk.GobblerClient`.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        staging: str | os.PathLike[str] | None = None,
        registry: str | os.PathLike[str] | None = None,
        cache: str | os.PathLike[str] | None = None,
        transport: TransportChoice | Transport = "auto",
        timeout: float = 30.0,
        concurrency: int | None = None,
        retries: int = 3,
        offline: bool | None = None,
        min_read_rate: float = DEFAULT_MIN_READ_RATE,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
        submit_timeout: float | None = DEFAULT_SUBMIT_TIMEOUT,
        revalidate_after: float = DEFAULT_REVALIDATE_AFTER,
    ) -> None:
        self._init(
            GobblerClient(
                url,
                staging=staging,
                registry=registry,
                cache=cache,
                transport=transport,
                timeout=timeout,
                concurrency=concurrency,
                retries=retries,
                offline=offline,
                min_read_rate=min_read_rate,
                max_response_size=max_response_size,
                submit_timeout=submit_timeout,
                revalidate_after=revalidate_after,
            )
        )

    def _init(self, client: GobblerClient) -> None:
        self._client = client
        self._offload = Offload(client.concurrency)

    @classmethod
    def from_client(cls, client: GobblerClient) -> AsyncGobblerClient:
        """An async surface over an existing client's session: its settings, connections and cache.

        Closing either closes the connections of both (they are reopened when used again).
        """
        self = cls.__new__(cls)
        self._init(client)
        return self

    async def _run(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        return await self._offload.run(function, *args, **kwargs)

    async def __aenter__(self) -> AsyncGobblerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the worker threads and close the connections (reopened if the client is used again).

        Operations still running past their point of no return (a submission awaiting its answer) finish
        in the background first, on their connections; those are closed when the last one ends.
        """
        self._offload.close(then=self._client.close)

    def __repr__(self) -> str:
        return repr(self._client).replace("GobblerClient", "AsyncGobblerClient", 1)

    # ------------------------------------------------------------------ configuration (no I/O)

    @property
    def sync(self) -> GobblerClient:
        """The sync client on the same session (for the cache manager and other blocking tools).

        Its methods block: from a coroutine, call them through ``asyncio.to_thread``.
        """
        return self._client

    @property
    def url(self) -> str:
        """The service's URL."""
        return self._client.url

    @property
    def timeout(self) -> float:
        """Seconds for connecting and for each wait for bytes."""
        return self._client.timeout

    @property
    def concurrency(self) -> int:
        """Operations run at once, parallel copies, and the download window's starting size."""
        return self._client.concurrency

    @property
    def retries(self) -> int:
        """Further attempts for idempotent reads after a transient failure."""
        return self._client.retries

    @property
    def submit_timeout(self) -> float | None:
        """Seconds a submission waits for the service's answer (``None``: forever)."""
        return self._client.submit_timeout

    @property
    def cache_dir(self) -> Path:
        """Root of the download cache (shared with sync clients configured alike)."""
        return self._client.cache_dir

    @property
    def offline(self) -> bool:
        """Whether reads are served from the cache only."""
        return self._client.offline

    # ------------------------------------------------------------------ configuration (may ask the service)

    async def staging(self) -> Path:
        """The staging directory (a coroutine here: it may be discovered from ``GET /info``)."""
        return await self._run(lambda: self._client.staging)

    async def checked_staging(self) -> Path:
        """The staging directory, checked once; see :meth:`~gobbler_sdk.GobblerClient.checked_staging`."""
        return await self._run(self._client.checked_staging)

    async def registry(self) -> str:
        """The registry directory (a coroutine here: it may be discovered from ``GET /info``)."""
        return await self._run(lambda: self._client.registry)

    async def transport(self) -> Transport:
        """The transport used for reads (a coroutine here: resolving ``"auto"`` may ask the service)."""
        return await self._run(lambda: self._client.transport)

    async def service_info(self) -> ServiceInfo:
        """Staging and registry paths as the service reports them (``GET /info``; cached)."""
        return await self._run(self._client.service_info)

    # ------------------------------------------------------------------ handles

    def project(self, name: str) -> AsyncProject:
        """Handle on a project (no I/O).

        Raises:
            InvalidNameError: When ``name`` breaks the naming rules.
        """
        return AsyncProject(self, self._client.project(name))

    def handle(self, handle: Project | Asset | Version) -> AsyncProject | AsyncAsset | AsyncVersion:
        """The async handle on what a sync handle (of this client's session) names."""
        if isinstance(handle, Version):
            return AsyncVersion(self, handle)
        if isinstance(handle, Asset):
            return AsyncAsset(self, handle)
        return AsyncProject(self, handle)

    async def projects(self, *, force_remote: bool = False) -> list[AsyncProject]:
        """Every project of the registry, sorted by name."""
        projects = await self._run(self._client.projects, force_remote=force_remote)
        return [AsyncProject(self, project) for project in projects]

    async def unpack_path(self, path: str, *, force_remote: bool = False) -> tuple[AsyncVersion, str | None]:
        """Split ``project/asset/version[/file]``; see :meth:`~gobbler_sdk.GobblerClient.unpack_path`."""
        version, inner = await self._run(self._client.unpack_path, path, force_remote=force_remote)
        return AsyncVersion(self, version), inner

    # ------------------------------------------------------------------ reads

    async def listing(
        self, path: str = "", *, recursive: bool = False, force_remote: bool = False
    ) -> list[str]:
        """List a registry directory as ``GET /list`` does; see :meth:`~gobbler_sdk.GobblerClient.listing`."""
        return await self._run(self._client.listing, path, recursive=recursive, force_remote=force_remote)

    async def read_document(self, path: str, *, force_remote: bool = False) -> bytes:
        """The bytes of a small registry file as stored."""
        return await self._run(self._client.read_document, path, force_remote=force_remote)

    async def local_path(self, path: str) -> Path | None:
        """The path of a registry file on this machine when the registry is mounted, else ``None``."""
        return await self._run(self._client.local_path, path)

    async def fetch_file(self, path: str, **options: Unpack[FileOptions]) -> Path:
        """Local path of a registry file; see :meth:`~gobbler_sdk.GobblerClient.fetch_file`."""
        return await self._run(self._client.fetch_file, path, **options)

    async def read_range(
        self,
        path: str,
        start: int = 0,
        end: int | None = None,
        *,
        entry: ManifestEntry | None = None,
        **options: Unpack[RangeOptions],
    ) -> bytes:
        """Bytes ``start`` to ``end`` of a file; see :meth:`~gobbler_sdk.GobblerClient.read_range`."""
        return await self._run(self._client.read_range, path, start, end, entry=entry, **options)

    async def fetch_directory(self, path: str, **options: Unpack[DirectoryOptions]) -> Path:
        """A registry directory on this machine; see :meth:`~gobbler_sdk.GobblerClient.fetch_directory`."""
        return await self._run(self._client.fetch_directory, path, **options)

    async def changes(self, since: datetime, *, force_remote: bool = False) -> list[ChangeEvent]:
        """The registry's journal of changes from ``since`` on, read whole, in time order.

        See :meth:`~gobbler_sdk.GobblerClient.changes` (whose feed reads lazily).
        """
        return await self._run(lambda: list(self._client.changes(since, force_remote=force_remote)))

    # ------------------------------------------------------------------ writes

    async def create_project(
        self,
        name: str,
        owners: Sequence[str] | None = None,
        uploaders: Sequence[Uploader | Mapping[str, Any]] | None = None,
        *,
        global_write: bool | None = None,
    ) -> AsyncProject:
        """Create a project (administrators only); see :meth:`~gobbler_sdk.GobblerClient.create_project`."""
        return await self.project(name).create(owners, uploaders, global_write=global_write)

    async def allocate_upload_directory(self, *, create: bool = True) -> Path:
        """A fresh directory directly inside staging, to fill and upload in place."""
        return await self._run(self._client.allocate_upload_directory, create=create)

    async def reroute_links(
        self,
        to_delete: Sequence[AsyncProject | AsyncAsset | AsyncVersion | Mapping[str, str] | str],
        *,
        dry_run: bool = False,
    ) -> list[RerouteChange]:
        """Rewrite links to files being deleted; see :meth:`~gobbler_sdk.GobblerClient.reroute_links`."""
        items = items_of(
            to_delete,
            "to_delete",
            item=(AsyncProject, AsyncAsset, AsyncVersion, Mapping, str),
            noun="projects, assets or versions",
        )
        targets = [
            item.sync if isinstance(item, (AsyncProject, AsyncAsset, AsyncVersion)) else item
            for item in items
        ]
        return await self._run(self._client.reroute_links, targets, dry_run=dry_run)
