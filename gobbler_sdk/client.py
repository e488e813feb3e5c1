"""The client: a façade over the core (settings, connections, documents, downloads, writes).

It builds the core once, hands out handles bound to it, and exposes the registry-wide reads and writes.

Typical use::

    from gobbler_sdk import GobblerClient

    with GobblerClient("http://gobbler.example:8080") as client:
        asset = client.project("my-project").asset("my-asset")
        version = asset.upload("v1", "path/to/dir")
        print(version.manifest().total_size, [v.name for v in asset.versions()])
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ._arguments import items_of
from ._cache_manager import CacheManager
from ._config import ClientConfig, TransportChoice
from ._connections import Connections
from ._core import Core
from ._documents import Documents
from ._downloads import DirectoryOptions, Downloads, FileOptions, RangeOptions
from ._limits import DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_MIN_READ_RATE, DEFAULT_SUBMIT_TIMEOUT
from ._pathsafety import checked_relative
from ._writes import Writes
from .changes import ChangeFeed, changes
from .errors import InvalidRequestError, NotFoundError
from .handles import Asset, Project, Version
from .models import ManifestEntry, RerouteChange, ServiceInfo, Uploader
from .transports import Transport
from .transports.remote import DEFAULT_REVALIDATE_AFTER

if sys.version_info >= (3, 11):
    from typing import Unpack
else:
    from typing_extensions import Unpack

    from .changes import ChangeFeed

__all__ = ["GobblerClient"]


class GobblerClient:
    """A session with one Gobbler registry and its service.

    Args:
        url: The service's REST API; ``GOBBLER_URL`` when ``None``.
        staging: The staging directory; ``GOBBLER_STAGING``, else discovered from ``GET /info``.
        registry: The registry directory; ``GOBBLER_REGISTRY``, else discovered from ``GET /info``.
        cache: Where remote files are cached; ``GOBBLER_CACHE``, else the user cache directory.
        transport: ``"auto"`` (read the registry directly when it is mounted and readable, else over
            HTTP), ``"local"``, ``"remote"``, or a :class:`~gobbler_sdk.transports.Transport` instance,
            which then serves every read (see "Writing a transport").
        timeout: Seconds allowed for connecting and for each wait for bytes of a read; also the base of
            each read's overall deadline (see ``min_read_rate``).
        concurrency: Parallel downloads and copies. ``None`` (the default) means 8 parallel copies and a
            download window that starts at 32 requests in flight and grows (up to 64) while that raises
            throughput, so a directory download fills a network with a long round trip without
            crowding a service next door (see the performance page).
        retries: Further attempts for idempotent reads after a transient failure.
        offline: Serve reads from the cache only and send nothing to the service (what is not cached
            raises :class:`~gobbler_sdk.errors.NotCachedError`); ``None`` reads ``GOBBLER_OFFLINE``
            (``1``, ``true`` or ``yes`` turn it on). A registry configured with ``registry=`` or
            ``GOBBLER_REGISTRY`` and mounted here is still read directly (a filesystem, not the service).
        min_read_rate: Slowest accepted transfer, in bytes per second: a read request may take
            ``timeout`` seconds plus one second per ``min_read_rate`` bytes received, so a large file may
            take as long as it needs at any sane speed, while a server that drips or stalls is cut off
            (and the read retried). Default 32 KiB/s.
        max_response_size: Largest answer read into memory (a listing, a registry document, ``/info``, an
            error body, a byte range read without the file's manifest entry), in bytes; a larger one
            raises :class:`~gobbler_sdk.errors.ResponseTooLargeError`.
            Default 256 MiB, far above any real manifest. Downloaded files are not limited.
        submit_timeout: Seconds a submission (an upload, a permission change, ...) waits for the service's
            answer, which comes only once the action is done; ``None`` waits forever. Past it,
            :class:`~gobbler_sdk.errors.OutcomeUnknownError` says the request may have been applied; it
            is never resent. Default 6 hours.
        revalidate_after: Seconds after which a cached version is confirmed with the service again before
            it is served (one small request per version in use): its summary is compared with the cached
            one, and a version deleted and uploaded again, or cached from another service, is dropped and
            read again. Default 5 minutes; a version is also confirmed the first time a client uses it, and
            at once after this client uploads, approves, rejects, removes or reindexes it.

    Raises:
        ConfigurationError: When an argument is unusable: a ``transport`` that is none of the choices, a
            ``timeout`` that is not a positive number, a ``concurrency`` below 1, negative ``retries``, or a
            ``url`` that is not ``http://`` or ``https://``. It is also a ``ValueError``.
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
        config = ClientConfig.build(
            url=url,
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
        self._assemble(Connections(config))

    def _assemble(self, connections: Connections) -> None:
        documents = Documents(connections)
        self._connections = connections
        self._core = Core(self, documents, Downloads(connections, documents), Writes(connections, documents))

    # Pickling (process pools, Dask workers): the settings travel; connections, locks and the cache are
    # rebuilt lazily on the other side.
    def __getstate__(self) -> dict[str, Any]:
        return {"connections": self._connections}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._assemble(state["connections"])

    def __enter__(self) -> GobblerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        config = self._connections.config
        return f"GobblerClient(url={config.url!r}, registry={config.registry!r}, staging={config.staging!r})"

    def close(self) -> None:
        """Close the HTTP connections and the cache's directory descriptors (reopened if used again)."""
        self._connections.close()

    # ------------------------------------------------------------------ configuration

    @property
    def url(self) -> str:
        """The service's URL.

        Raises:
            ConfigurationError: When neither ``url`` nor ``GOBBLER_URL`` was given.
        """
        return self._connections.url

    @property
    def timeout(self) -> float:
        """Seconds for connecting and for each wait for bytes."""
        return self._connections.config.timeout

    @property
    def concurrency(self) -> int:
        """Parallel copies, and the download window's starting size."""
        return self._connections.config.concurrency

    @property
    def retries(self) -> int:
        """Further attempts for idempotent reads after a transient failure."""
        return self._connections.config.retries

    @property
    def submit_timeout(self) -> float | None:
        """Seconds a submission waits for the service's answer (``None``: forever)."""
        return self._connections.config.submit_timeout

    @property
    def staging(self) -> Path:
        """The staging directory (discovered from the service when not configured)."""
        return self._connections.staging

    def checked_staging(self) -> Path:
        """The staging directory, checked once per client before the first request file or copy is written.

        Raises:
            ConfigurationError: When the staging directory does not exist, is not writable by this user,
                or is not the one the service reports in ``GET /info`` (both paths are named, with what to
                do).
        """
        return self._connections.checked_staging()

    @property
    def registry(self) -> str:
        """The registry directory (discovered from the service when not configured)."""
        return self._connections.registry

    @property
    def cache_dir(self) -> Path:
        """Root of the download cache."""
        return self._connections.cache.root

    @property
    def offline(self) -> bool:
        """Whether reads are served from the cache only (nothing is sent to the service)."""
        return self._connections.config.offline

    @property
    def cache(self) -> CacheManager:
        """Inspect and clean the download cache: scan, verify, prune, remove."""
        # Only a staging directory known without a request: prune must work offline and never block.
        return CacheManager(self._connections.cache, self._connections.configured_staging)

    @property
    def transport(self) -> Transport:
        """The transport used for reads (resolved on first use)."""
        return self._connections.transport

    def service_info(self) -> ServiceInfo:
        """Staging and registry paths as the service reports them (``GET /info``; cached).

        Raises:
            ConfigurationError: When the URL answers but is not a Gobbler service (a web page, another
                API, a wrong path prefix).
            ServiceUnavailableError: When nothing answers at the URL.
        """
        return self._connections.service_info()

    # ------------------------------------------------------------------ handles

    def project(self, name: str) -> Project:
        """Handle on a project (no I/O).

        Raises:
            InvalidNameError: When ``name`` breaks the naming rules.
        """
        return Project(self._core, name)

    def projects(self, *, force_remote: bool = False) -> list[Project]:
        """Every project of the registry, sorted by name."""
        return [self.project(name) for name in self._core.documents.subdirectories("", force_remote)]

    def unpack_path(self, path: str, *, force_remote: bool = False) -> tuple[Version, str | None]:
        """Split ``project/asset/version[/file]`` into a version handle and the path inside it.

        A version spelled ``..latest`` is resolved to the asset's latest version (one read).

        Raises:
            InvalidRequestError: When the path has fewer than three components.
            NotFoundError: For ``..latest``, when the asset does not exist or has no latest version.
        """
        parts = checked_relative(path.strip("/")).split("/")
        if len(parts) >= 3:
            parts = self._core.documents.resolved("/".join(parts), force_remote).split("/")
        if len(parts) < 3:
            raise InvalidRequestError(
                f"{path!r} does not name a version: expected project/asset/version[/path]"
            )
        return self.project(parts[0]).asset(parts[1]).version(parts[2]), "/".join(parts[3:]) or None

    # ------------------------------------------------------------------ reads

    def listing(self, path: str = "", *, recursive: bool = False, force_remote: bool = False) -> list[str]:
        """List a registry directory as the service's ``GET /list`` does, in its order.

        Args:
            path: Registry-relative directory (``""`` for the registry's root).
            recursive: Every file below it (relative, ``/``-separated), then the deepest empty directories
                with a trailing ``/``, instead of its children (directories with a trailing ``/``).
            force_remote: List through the REST API even when the registry is mounted.

        Raises:
            NotFoundError: When the directory does not exist.
        """
        relative = path.strip("/")
        if relative not in ("", "."):
            checked_relative(relative)
        return self._core.documents.listing(relative, recursive=recursive, force_remote=force_remote)

    def read_document(self, path: str, *, force_remote: bool = False) -> bytes:
        """The bytes of a small registry file as stored, such as ``project/..permissions`` or a journal entry.

        Args:
            path: Registry-relative file path.
            force_remote: Read through the REST API even when the registry is mounted.

        Raises:
            NotFoundError: When there is no such file.
        """
        data = self._core.documents.raw(checked_relative(path.strip("/")), force_remote)
        if data is None:
            raise NotFoundError(f"no file at {path!r} in the registry")
        return data

    def local_path(self, path: str) -> Path | None:
        """The path of a registry file on this machine when reads use a mounted registry, else ``None``.

        Nothing is downloaded: a remote registry gives ``None`` (use :meth:`fetch_file` for a local copy).

        Raises:
            NotFoundError: When the registry is mounted and holds no such file.
        """
        return self.transport.local_path(checked_relative(path.strip("/")))

    def fetch_file(self, path: str, **options: Unpack[FileOptions]) -> Path:
        """Local path of a registry file: the registry's own when mounted, else a verified cached copy.

        Args:
            path: ``project/asset/version/file`` (internal ``..`` files allowed).
            **options: ``force_remote`` (download even when the registry is mounted), ``overwrite``
                (download again even when a verified copy is cached), ``verify`` (check a download's size
                and MD5 against the manifest, and a cached copy's before reusing it), ``progress`` and
                ``tqdm_class`` (see :class:`~gobbler_sdk.FileOptions`).

        A version spelled ``..latest`` (``project/asset/..latest/file``) means the asset's latest version,
        here and in every read that takes a registry path.

        Raises:
            NotFoundError: When the file does not exist.
            NotCachedError: Offline, or with the service unreachable, when no valid copy is cached.
            IntegrityError: When downloaded bytes do not match the manifest.
        """
        return self._core.downloads.fetch_file(path, **options)

    def read_range(
        self,
        path: str,
        start: int = 0,
        end: int | None = None,
        *,
        entry: ManifestEntry | None = None,
        **options: Unpack[RangeOptions],
    ) -> bytes:
        """Read bytes ``start`` to ``end`` of a registry file without downloading the rest of it.

        Remotely this is one HTTP ``Range`` request on ``/fetch`` and only the asked bytes travel (nothing
        is cached); on a mounted registry the file is read in place. A part of a file cannot be checked
        against the manifest's MD5, so only a read that turns out to cover the whole file is verified.

        Args:
            path: ``project/asset/version/file``.
            start: First byte (0-based, not negative).
            end: End of the range, exclusive; ``None`` reads to the end of the file. Clipped at the end.
            entry: The file's manifest entry when the caller has it (saves reading the manifest to verify;
                any read, partial or whole, of a file whose size differs from the entry's then fails).
            **options: ``verify`` (check size and MD5 against the manifest when the whole file was read)
                and ``force_remote`` (read through the REST API even when the registry is mounted).

        Returns:
            The bytes: fewer than asked when the file ends first, none from its end on.

        Raises:
            InvalidArgumentError: When ``start`` is negative or ``end`` is before ``start``.
            NotFoundError: When the file does not exist.
            IntegrityError: When a whole-file read does not match the manifest, or the answer states
                another size than the manifest's (refused before its body is read).
            ResponseTooLargeError: When, without a manifest entry (``verify=False`` and no ``entry``),
                the answer would put more than ``max_response_size`` bytes in memory.
            ServiceError: When the service answers with other bytes than asked.
        """
        return self._core.downloads.read_range(path, start, end, entry=entry, **options)

    def fetch_directory(self, path: str, **options: Unpack[DirectoryOptions]) -> Path:
        """Local directory holding a registry directory and everything below it.

        Mounted registries are used in place. Remotely, the directory is listed once, files are downloaded
        concurrently over pooled connections and verified against their manifests, each linked file's
        bytes are fetched once and linked locally, and empty directories are created. When the service
        cannot be reached, a settled version that is completely cached is still served, with a warning.

        Args:
            path: ``project/asset/version[/directory]``.
            **options: Those of :meth:`fetch_file`, and ``concurrency``, ``allow_patterns``,
                ``ignore_patterns`` and ``local_dir`` (see :class:`~gobbler_sdk.DirectoryOptions`).
                With ``verify=False``, downloads are not MD5-hashed, cached copies (and copies already in
                ``local_dir``) are reused without re-hashing, and copies from a mounted registry are
                checked by size only; the manifests are still read, for links.

        Returns:
            ``local_dir`` when given, else the directory in the registry or in the cache (which may hold
            more files than the patterns selected, from earlier fetches).

        Raises:
            NotFoundError: When the directory does not exist.
            NotCachedError: Offline, or with the service unreachable, when not everything is cached.
            UnsafePathError: When the listing holds a path that cannot be stored here.
        """
        return self._core.downloads.fetch_directory(path, **options)

    # ------------------------------------------------------------------ writes

    def create_project(
        self,
        name: str,
        owners: Sequence[str] | None = None,
        uploaders: Sequence[Uploader | Mapping[str, Any]] | None = None,
        *,
        global_write: bool | None = None,
    ) -> Project:
        """Create a project (administrators only); see :meth:`Project.create`."""
        return self.project(name).create(owners=owners, uploaders=uploaders, global_write=global_write)

    def allocate_upload_directory(self, *, create: bool = True) -> Path:
        """A fresh directory directly inside staging, to fill and upload in place (no copy needed)."""
        return self._core.writes.allocate_upload_directory(create=create)

    def reroute_links(
        self,
        to_delete: Sequence[Project | Asset | Version | Mapping[str, str] | str],
        *,
        dry_run: bool = False,
    ) -> list[RerouteChange]:
        """Rewrite links elsewhere in the registry that depend on files about to be deleted.

        Args:
            to_delete: Projects, assets and versions that will be deleted: handles, ``{"project": ...,
                "asset": ..., "version": ...}`` mappings, or ``"project[/asset[/version]]"`` paths.
            dry_run: Only report what would change.

        Returns:
            One entry per changed link (in no particular order).

        Raises:
            InvalidArgumentError: When ``to_delete`` is a single handle or mapping instead of a list.
        """
        items = items_of(
            to_delete,
            "to_delete",
            item=(Project, Asset, Version, Mapping, str),
            noun="projects, assets or versions",
        )
        payload: dict[str, Any] = {"to_delete": [self._reroute_target(item) for item in items]}
        if dry_run:
            payload["dry_run"] = True
        answer = self._core.writes.submit("reroute_links", payload, "reroute links")
        return [RerouteChange.model_validate(change) for change in answer.get("changes", [])]

    def changes(self, since: datetime, *, force_remote: bool = False) -> ChangeFeed:
        """The registry's journal of changes from ``since`` on, as typed events in time order.

        See :func:`gobbler_sdk.changes.changes`.
        """
        return changes(self, since, force_remote=force_remote)

    def _reroute_target(self, item: Project | Asset | Version | Mapping[str, str] | str) -> dict[str, str]:
        # Mappings and paths go through the handles too, so their names are checked before a request file
        # exists.
        handle: Project | Asset | Version
        if isinstance(item, str):
            parts = checked_relative(item.strip("/")).split("/")
            if len(parts) > 3:
                raise InvalidRequestError(f"{item!r} names a file, not a project, asset or version")
            item = dict(zip(("project", "asset", "version"), parts, strict=False))
        if isinstance(item, (Project, Asset, Version)):
            handle = item
        else:
            if "project" not in item:
                raise InvalidRequestError(f"{dict(item)!r} names no project to delete")
            handle = self.project(item["project"])
            if "asset" in item:
                handle = handle.asset(item["asset"])
            if "version" in item:
                if not isinstance(handle, Asset):
                    raise InvalidRequestError(f"{dict(item)!r}: a version needs its asset")
                handle = handle.version(item["version"])
        return dict(zip(("project", "asset", "version"), handle.key.split("/"), strict=False))
