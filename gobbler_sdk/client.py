"""The client session: configuration, transports, request submission and the handle factory.

Typical use::

    from gobbler_sdk import GobblerClient

    with GobblerClient("http://gobbler.example:8080") as client:
        asset = client.project("my-project").asset("my-asset")
        version = asset.upload("v1", "path/to/dir")
        print(version.manifest().total_size, [v.name for v in asset.versions()])
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit

import httpx
import platformdirs

from ._arguments import items_of
from ._cache import Cache, integrity_problem
from ._cache_manager import CacheManager
from ._directory import copy_into, download_directory, is_internal
from ._fetcher import Answer, Fetcher, direct_connection_possible
from ._globs import path_filter
from ._http import (
    RetryableStatus,
    check_identity,
    get_answer,
    is_retryable_status,
    make_http_client,
    with_retries,
)
from ._limits import DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_MIN_READ_RATE, DEFAULT_SUBMIT_TIMEOUT, ReadLimits
from ._log import logger
from ._pathsafety import checked_relative, join_inside
from ._progress import ProgressCallback, TqdmClass, Tracker
from ._staging import (
    ABANDONED_AFTER,
    StagingCopy,
    allocate_directory,
    check_tree,
    copy_plan,
    is_direct_child,
    sweep_abandoned,
)
from ._submit import Submitter
from .errors import (
    ConfigurationError,
    GobblerError,
    IntegrityError,
    InvalidArgumentError,
    InvalidRequestError,
    NotCachedError,
    NotFoundError,
    ServiceError,
    ServiceUnavailableError,
    error_from_oserror,
)
from .handles import Asset, Project, Version, _owner_list, _parsed, _uploader_list
from .models import Manifest, ManifestEntry, Permissions, RerouteChange, ServiceInfo, Summary, Uploader
from .transports import LocalTransport, RemoteTransport, Transport

if TYPE_CHECKING:  # issue 21: the change feed's types, for GobblerClient.changes
    from datetime import datetime

    from .changes import ChangeFeed

__all__ = ["GobblerClient"]

# Parallel copies, and the download window's starting size, when ``concurrency`` is not given.
_DEFAULT_CONCURRENCY = 8
# The adaptive download window's ceiling: 64 requests in flight filled a 20 ms round trip (performance page).
_MAX_WINDOW = 64
# Parsed manifests of settled versions kept per client (a 2,000-entry manifest costs ~1 ms to parse).
_PARSED_MANIFESTS = 4

TransportChoice = Literal["auto", "local", "remote"]

_D = TypeVar("_D")


def _env_flag(value: bool | None, variable: str) -> bool:
    if value is not None:
        return bool(value)
    return os.environ.get(variable, "").strip().lower() in ("1", "true", "yes", "on")


def _env_path(value: str | os.PathLike[str] | None, variable: str) -> str | None:
    if value is not None:
        return os.fspath(value)
    return os.environ.get(variable) or None


def _check_options(
    url: object, transport: object, timeout: object, concurrency: object, retries: object
) -> None:
    """Refuse unusable constructor arguments with a :class:`ConfigurationError` naming the argument."""
    if url is not None and not isinstance(url, str):
        raise ConfigurationError(f"url must be a string such as 'http://host:8080', not {type(url).__name__}")
    if isinstance(transport, str):
        if transport not in ("auto", "local", "remote"):
            raise ConfigurationError(
                f"transport must be 'auto', 'local', 'remote' or a Transport, not {transport!r}"
            )
    elif not isinstance(transport, Transport):
        raise ConfigurationError(
            f"transport must be 'auto', 'local', 'remote' or a Transport, not a {type(transport).__name__}"
        )
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ConfigurationError(f"timeout must be a positive number of seconds, not {timeout!r}")
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
    ):
        raise ConfigurationError(f"concurrency must be an integer of at least 1, not {concurrency!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigurationError(f"retries must be an integer of at least 0, not {retries!r}")


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{url!r} is not an http:// or https:// URL of a Gobbler service (such as 'http://host:8080')"
        )


class GobblerClient:
    """A session with one Gobbler registry and its service.

    Args:
        url: The service's REST API; ``GOBBLER_URL`` when ``None``.
        staging: The staging directory; ``GOBBLER_STAGING``, else discovered from ``GET /info``.
        registry: The registry directory; ``GOBBLER_REGISTRY``, else discovered from ``GET /info``.
        cache: Where remote files are cached; ``GOBBLER_CACHE``, else the user cache directory.
        transport: ``"auto"`` (read the registry directly when it is mounted and readable, else over
            HTTP), ``"local"``, ``"remote"``, or a :class:`~gobbler_sdk.transports.Transport` instance.
        timeout: Seconds allowed for connecting and for each wait for bytes of a read; also the base of
            each read's overall deadline (see ``min_read_rate``).
        concurrency: Parallel downloads and copies. ``None`` (the default) means 8 parallel copies and a
            download window that starts at 8 requests in flight and grows (up to 64) while that raises
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
            error body), in bytes; a larger one raises :class:`~gobbler_sdk.errors.ResponseTooLargeError`.
            Default 256 MiB, far above any real manifest. Downloaded files are not limited.
        submit_timeout: Seconds a submission (an upload, a permission change, ...) waits for the service's
            answer, which comes only once the action is done; ``None`` waits forever. Past it,
            :class:`~gobbler_sdk.errors.OutcomeUnknownError` says the request may have been applied; it
            is never resent. Default 6 hours.

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
    ) -> None:
        _check_options(url, transport, timeout, concurrency, retries)
        self._offline = _env_flag(offline, "GOBBLER_OFFLINE")
        self._url = (url or os.environ.get("GOBBLER_URL") or "").rstrip("/") or None
        if self._url is not None:
            _check_url(self._url)
        self._staging = _env_path(staging, "GOBBLER_STAGING")
        self._registry = _env_path(registry, "GOBBLER_REGISTRY")
        cache_dir = _env_path(cache, "GOBBLER_CACHE") or platformdirs.user_cache_dir("gobbler-sdk")
        self._cache = Cache(cache_dir)
        if (
            min_read_rate <= 0
            or max_response_size <= 0
            or (submit_timeout is not None and submit_timeout <= 0)
        ):
            raise ConfigurationError("min_read_rate, max_response_size and submit_timeout must be positive")
        self.timeout = timeout
        self.concurrency = concurrency or _DEFAULT_CONCURRENCY
        self._adaptive_window = concurrency is None
        self.retries = retries
        self.submit_timeout = submit_timeout
        self._limits = ReadLimits(timeout, min_read_rate=min_read_rate, max_response_size=max_response_size)
        self._choice = transport
        self._http: httpx.Client | None = None
        self._info: ServiceInfo | None = None
        self._transport: Transport | None = transport if not isinstance(transport, str) else None
        self._remote: RemoteTransport | None = None
        # Versions whose summary says they are not probational: their documents can be cached for good.
        self._settled: set[str] = set()
        self._staging_checked: Path | None = None
        # Parsed manifests of settled versions read remotely, most recently used last.
        self._parsed_manifests: OrderedDict[str, Manifest] = OrderedDict()
        self._parsed_lock = threading.Lock()

    # ------------------------------------------------------------------ configuration

    @property
    def url(self) -> str:
        """The service's URL.

        Raises:
            ConfigurationError: When neither ``url`` nor ``GOBBLER_URL`` was given.
        """
        if self._url is None:
            raise ConfigurationError("no Gobbler URL: pass url= or set GOBBLER_URL")
        return self._url

    @property
    def staging(self) -> Path:
        """The staging directory (discovered from the service when not configured)."""
        if self._staging is None:
            self._staging = self.service_info().staging
        return Path(self._staging)

    def checked_staging(self) -> Path:
        """The staging directory, checked once per client before the first request file or copy is written.

        Raises:
            ConfigurationError: When the staging directory does not exist, is not writable by this user,
                or is not the one the service reports in ``GET /info`` (both paths are named, with what to
                do).
        """
        if self._staging_checked is not None:
            return self._staging_checked
        configured = self._staging is not None
        staging = self.staging
        try:
            is_directory = stat.S_ISDIR(os.stat(staging).st_mode)
        except OSError as exc:
            is_directory = False
            if not isinstance(exc, FileNotFoundError):
                raise ConfigurationError(
                    f"cannot access the staging directory {staging} ({exc.strerror}): every user of the "
                    "service must be able to reach it and create files in it (mode 1777)"
                ) from exc
        if not is_directory:
            raise ConfigurationError(
                f"the staging directory {staging} does not exist or is not a directory on this machine: "
                "pass staging= (or set GOBBLER_STAGING) to the directory the service reports in GET /info, "
                "mounted here"
            )
        if configured:
            self._compare_staging(staging)
        if not os.access(staging, os.W_OK | os.X_OK):
            raise ConfigurationError(
                f"this user cannot create files or directories in the staging directory {staging}: it must "
                "be writable by every user of the service (mode 1777; ask the service's administrator to "
                f"run 'chmod 1777 {staging}')"
            )
        self._staging_checked = staging
        return staging

    def _compare_staging(self, staging: Path) -> None:
        try:
            reported = self.service_info().staging
        except GobblerError as exc:
            # The request itself will report an unreachable or broken service.
            logger.debug("cannot compare staging %s with the service's: %s", staging, exc)
            return
        if not os.path.exists(reported):
            # Possibly the same directory mounted under another path here: nothing to compare with.
            logger.info("the service's staging %s is not visible here; using %s", reported, staging)
            return
        if not os.path.samefile(reported, staging):
            raise ConfigurationError(
                f"the configured staging directory {staging} is not the service's staging directory "
                f"{reported} (from GET /info): the service would not find request files written here; "
                f"pass staging={reported!r} or leave staging unset to use the service's"
            )

    @property
    def registry(self) -> str:
        """The registry directory (discovered from the service when not configured)."""
        if self._registry is None:
            self._registry = self.service_info().registry
        return self._registry

    @property
    def cache_dir(self) -> Path:
        """Root of the download cache."""
        return self._cache.root

    @property
    def offline(self) -> bool:
        """Whether reads are served from the cache only (nothing is sent to the service)."""
        return self._offline

    @property
    def cache(self) -> CacheManager:
        """Inspect and clean the download cache: scan, verify, prune, remove."""
        # Only a staging directory known without a request: prune must work offline and never block.
        return CacheManager(self._cache, Path(self._staging) if self._staging is not None else None)

    @property
    def transport(self) -> Transport:
        """The transport used for reads (resolved on first use)."""
        if self._transport is None:
            self._transport = self._resolve_transport()
        return self._transport

    def _resolve_transport(self) -> Transport:
        if self._offline and self._choice != "local":
            # Only a registry named here is read in place: discovering it would ask the service.
            mounted = self._registry is not None and os.path.isdir(self._registry)
            if self._choice == "auto" and mounted and os.access(self._registry or "", os.R_OK | os.X_OK):
                return LocalTransport(self._registry or "")
            return self._remote_transport()
        if self._choice == "remote":
            return self._remote_transport()
        if self._choice == "local":
            if not os.path.isdir(self.registry):
                raise ConfigurationError(f"the registry {self.registry} is not a directory on this machine")
            return LocalTransport(self.registry)
        if self._registry is None and self._url is None:
            raise ConfigurationError("no Gobbler URL or registry: pass url= / registry= or set GOBBLER_URL")
        registry = self.registry
        if os.path.isdir(registry) and os.access(registry, os.R_OK | os.X_OK):
            logger.info("reading the registry directly at %s", registry)
            return LocalTransport(registry)
        logger.info("the registry %s is not readable here; reading through %s", registry, self._url)
        return self._remote_transport()

    def _remote_transport(self) -> RemoteTransport:
        if self._remote is None:
            fetcher = None
            if not self._offline and direct_connection_possible(self.url):
                fetcher = Fetcher(self.url, timeout=self.timeout, limits=self._limits)
            elif not self._offline:
                logger.info("a proxy is configured for %s: reads go through httpx", self.url)
            self._remote = RemoteTransport(
                self._client_http,
                self._cache,
                retries=self.retries,
                fetcher=fetcher,
                offline=self._offline,
                limits=self._limits,
                identify=self.service_info,
            )
        return self._remote

    def _reader(self, force_remote: bool) -> Transport:
        return self._remote_transport() if force_remote else self.transport

    def _client_http(self) -> httpx.Client:
        if self._http is None:
            self._http = make_http_client(self.url, timeout=self.timeout, concurrency=self.concurrency)
        return self._http

    def close(self) -> None:
        """Close the HTTP connections and the cache's directory descriptors."""
        self._cache.forget()
        if self._remote is not None:
            self._remote.close()
            self._remote = None
        if self._http is not None:
            self._http.close()
            self._http = None
            if isinstance(self._transport, RemoteTransport):
                self._transport = None

    # Pickling (process pools, Dask workers): the configuration travels; connections, locks and the cache
    # object are rebuilt lazily on the other side, and a transport resolved here is resolved again there.
    _RUNTIME = ("_http", "_remote")

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for name in self._RUNTIME:
            state[name] = None
        # A lock does not pickle; the parsed manifests are only a memo. Both are rebuilt on arrival.
        del state["_parsed_lock"], state["_parsed_manifests"]
        if isinstance(self._choice, RemoteTransport):
            # A remote transport holds live connections; the receiving side builds its own.
            state["_choice"] = "remote"
        if isinstance(state.get("_choice"), str):
            state["_transport"] = None
        state["_cache"] = self._cache.root
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state["_cache"] = Cache(state["_cache"])
        state["_parsed_manifests"] = OrderedDict()
        state["_parsed_lock"] = threading.Lock()
        self.__dict__.update(state)

    def __enter__(self) -> GobblerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GobblerClient(url={self._url!r}, registry={self._registry!r}, staging={self._staging!r})"

    # ------------------------------------------------------------------ service-level operations

    def service_info(self) -> ServiceInfo:
        """Staging and registry paths as the service reports them (``GET /info``; cached).

        Raises:
            ConfigurationError: When the URL answers but is not a Gobbler service (a web page, another
                API, a wrong path prefix).
            ServiceUnavailableError: When nothing answers at the URL.
        """
        if self._info is None:
            if self._offline:
                raise NotCachedError("the service's /info is not known, and offline mode sends no request")
            http = self._client_http()

            def attempt() -> Answer:
                answer = get_answer(http, "/info", self._limits, "service info")
                if is_retryable_status(answer.status, answer.content_type):
                    raise RetryableStatus(answer.status, answer.content_type, answer.body)
                return answer

            answer = with_retries(attempt, retries=self.retries, what="service info")
            document = check_identity(self.url, answer.status, answer.content_type, answer.body)
            self._info = ServiceInfo.model_validate(document)
        return self._info

    def project(self, name: str) -> Project:
        """Handle on a project (no I/O).

        Raises:
            InvalidNameError: When ``name`` breaks the naming rules.
        """
        return Project(self, name)

    def projects(self, *, force_remote: bool = False) -> list[Project]:
        """Every project of the registry, sorted by name."""
        return [Project(self, name) for name in self._subdirectories("", force_remote)]

    def create_project(
        self,
        name: str,
        owners: Sequence[str] | None = None,
        uploaders: Sequence[Uploader | Mapping[str, Any]] | None = None,
        *,
        global_write: bool | None = None,
    ) -> Project:
        """Create a project (administrators only); see :meth:`Project.create`."""
        return Project(self, name).create(owners=owners, uploaders=uploaders, global_write=global_write)

    def reroute_links(
        self, to_delete: Sequence[Project | Asset | Version | Mapping[str, str]], *, dry_run: bool = False
    ) -> list[RerouteChange]:
        """Rewrite links elsewhere in the registry that depend on files about to be deleted.

        Args:
            to_delete: Projects, assets and versions (handles, or ``{"project": ..., "asset": ...,
                "version": ...}`` mappings) that will be deleted.
            dry_run: Only report what would change.

        Returns:
            One entry per changed link (in no particular order).

        Raises:
            InvalidArgumentError: When ``to_delete`` is a single handle or mapping instead of a list.
        """
        items = items_of(
            to_delete,
            "to_delete",
            item=(Project, Asset, Version, Mapping),
            noun="projects, assets or versions",
        )
        targets = [self._reroute_target(item) for item in items]
        payload: dict[str, Any] = {"to_delete": targets}
        if dry_run:
            payload["dry_run"] = True
        answer = self._submit("reroute_links", payload, "reroute links")
        return [RerouteChange.model_validate(change) for change in answer.get("changes", [])]

    def _reroute_target(self, item: Project | Asset | Version | Mapping[str, str]) -> dict[str, str]:
        # Mappings go through the handles too, so their names are checked before a request file exists.
        handle: Project | Asset | Version
        if isinstance(item, (Project, Asset, Version)):
            handle = item
        else:
            if "project" not in item:
                raise InvalidRequestError(f"{dict(item)!r} names no project to delete")
            handle = Project(self, item["project"])
            if "asset" in item:
                handle = handle.asset(item["asset"])
            if "version" in item:
                if not isinstance(handle, Asset):
                    raise InvalidRequestError(f"{dict(item)!r}: a version needs its asset")
                handle = handle.version(item["version"])
        return dict(zip(("project", "asset", "version"), handle.key.split("/"), strict=False))

    def allocate_upload_directory(self, *, create: bool = True) -> Path:
        """A fresh directory directly inside staging, to fill and upload in place (no copy needed)."""
        return allocate_directory(self.checked_staging(), create=create)

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
        if path not in ("", "."):
            checked_relative(path.strip("/"))
        return self._reader(force_remote).list(path.strip("/"), recursive=recursive)

    def read_document(self, path: str, *, force_remote: bool = False) -> bytes:
        """The bytes of a small registry file as stored, such as ``project/..permissions`` or a journal entry.

        Args:
            path: Registry-relative file path.
            force_remote: Read through the REST API even when the registry is mounted.

        Raises:
            NotFoundError: When there is no such file.
        """
        data = self._reader(force_remote).read(checked_relative(path.strip("/")))
        if data is None:
            raise NotFoundError(f"no file at {path!r} in the registry")
        return data

    def local_path(self, path: str) -> Path | None:
        """The path of a registry file on this machine when reads use a mounted registry, else ``None``.

        Nothing is downloaded: a remote registry gives ``None`` (use :meth:`fetch_file` for a local copy).

        Raises:
            NotFoundError: When the registry is mounted and holds no such file.
        """
        reader = self.transport
        if not isinstance(reader, LocalTransport):
            return None
        return reader.fetch(checked_relative(path.strip("/")))

    def unpack_path(self, path: str) -> tuple[Version, str | None]:
        """Split ``project/asset/version[/file]`` into a version handle and the path inside it.

        Raises:
            InvalidRequestError: When the path has fewer than three components.
        """
        parts = checked_relative(path.strip("/")).split("/")
        if len(parts) < 3:
            raise InvalidRequestError(
                f"{path!r} does not name a version: expected project/asset/version[/path]"
            )
        version = Project(self, parts[0]).asset(parts[1]).version(parts[2])
        return version, "/".join(parts[3:]) or None

    # ------------------------------------------------------------------ files

    def _entry_for(
        self,
        path: str,
        manifests: dict[str, Manifest] | None = None,
        *,
        learn: bool = True,
        received: dict[str, bytes] | None = None,
    ) -> ManifestEntry | None:
        parts = path.split("/")
        if len(parts) < 4 or any(part.startswith("..") for part in parts):
            return None
        key = "/".join(parts[:3])
        # A directory download reads each version's manifest once, not once per file.
        manifest = manifests.get(key) if manifests is not None else None
        if manifest is None:
            version = Project(self, parts[0]).asset(parts[1]).version(parts[2])
            manifest = self._manifest(version, True, learn=learn, received=received)
            if manifests is not None:
                manifests[key] = manifest
        entry = manifest.get("/".join(parts[3:]))
        if entry is None:
            raise NotFoundError(f"{path!r} is not in the manifest of {key}")
        return entry

    def fetch_file(
        self,
        path: str,
        *,
        force_remote: bool = False,
        overwrite: bool = False,
        verify: bool = True,
        progress: bool | ProgressCallback | None = None,
        tqdm_class: TqdmClass | None = None,
    ) -> Path:
        """Local path of a registry file: the registry's own when mounted, else a verified cached copy.

        Args:
            path: ``project/asset/version/file`` (internal ``..`` files allowed).
            force_remote: Download even when the registry is mounted.
            overwrite: Download again even when a verified copy is cached.
            verify: Check a download's size and MD5 against the manifest (and a cached copy's before
                reusing it). Turning it off saves the hashing for callers that check content themselves.
            progress: A download's progress: ``None`` or ``True`` (a bar when standard error is a
                terminal or in Jupyter, unless ``GOBBLER_DISABLE_PROGRESS=1``), ``False`` (nothing), or a
                callable receiving a :class:`~gobbler_sdk.ProgressEvent` when the file is in place.
            tqdm_class: Draw the bar with this ``tqdm`` class (even without a terminal).

        Raises:
            NotFoundError: When the file does not exist.
            NotCachedError: Offline, or with the service unreachable, when no valid copy is cached.
            IntegrityError: When downloaded bytes do not match the manifest.
        """
        checked_relative(path)
        try:
            return self._fetch_file(path, force_remote, overwrite, verify, progress, tqdm_class)
        except NotFoundError as exc:
            raise self._explained(path, force_remote, exc) or exc from None

    def _explained(
        self, path: str, force_remote: bool, cause: NotFoundError | None = None
    ) -> NotFoundError | None:
        """For a path that was not found, the error naming its missing project, asset or version, if any."""
        if self._offline or isinstance(cause, NotCachedError):
            # What is not cached says nothing of what exists; asking would send a request.
            return None
        parts = path.strip("/").split("/")
        try:
            project = Project(self, parts[0])
            asset = project.asset(parts[1]) if len(parts) > 1 else None
            version = asset.version(parts[2]) if asset is not None and len(parts) > 2 else None
        except InvalidRequestError:
            return None
        return (version or asset or project)._missing(force_remote, cause)

    def _fetch_file(
        self,
        path: str,
        force_remote: bool,
        overwrite: bool,
        verify: bool,
        progress: bool | ProgressCallback | None,
        tqdm_class: TqdmClass | None,
    ) -> Path:
        reader = self._reader(force_remote)
        if not isinstance(reader, RemoteTransport):
            return reader.fetch(path, overwrite=overwrite)
        internal = is_internal(path)
        entry = None
        if verify or internal:
            # One request for the manifest, one for the file: whether the version is settled (so that
            # its manifest may be cached) is not worth a third round trip before the download.
            entry = self._entry_for(path, learn=False)
            if entry is not None and entry.is_directory:
                # The file server would answer with a redirect to a listing; locally it is simply no file.
                raise NotFoundError(f"{path!r} is an empty directory, not a file")
        # Internal files change (summaries on approval), so they are fetched anew unless offline.
        again = overwrite or (internal and not reader.offline)
        if not again and reader.cache.valid(path, entry if verify else None):
            logger.debug("cache hit: %s", path)
            return reader.cache.local_path(path)
        size = entry.size if entry is not None else 0
        tracker = Tracker(progress, "download", 1, size, tqdm_class=tqdm_class, label=path.rpartition("/")[2])
        with tracker:
            try:
                local = reader.fetch(
                    path, entry=entry, overwrite=True, verify=verify, on_bytes=tracker.on_bytes
                )
            except ServiceUnavailableError as exc:
                if not (internal and self._settled_parts(path) and reader.cache.valid(path, None)):
                    raise
                logger.warning("%s; serving %s from the cache", exc, path)
                return reader.cache.local_path(path)
            tracker.streamed(path, size)
        return local

    def read_range(
        self,
        path: str,
        start: int = 0,
        end: int | None = None,
        *,
        entry: ManifestEntry | None = None,
        verify: bool = True,
        force_remote: bool = False,
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
            verify: Check size and MD5 against the manifest when the whole file was read.
            force_remote: Read through the REST API even when the registry is mounted.

        Returns:
            The bytes: fewer than asked when the file ends first, none from its end on.

        Raises:
            ValueError: When ``start`` is negative or ``end`` is before ``start``.
            NotFoundError: When the file does not exist.
            IntegrityError: When a whole-file read does not match the manifest.
            ServiceError: When the service answers with other bytes than asked.
        """
        if start < 0 or (end is not None and end < start):
            raise InvalidArgumentError(f"invalid byte range {start}..{end} (need 0 <= start <= end)")
        checked_relative(path)
        if end == start:
            return b""
        reader = self._reader(force_remote)
        if isinstance(reader, (LocalTransport, RemoteTransport)):
            piece = reader.read_range(path, start, end, md5=verify)
            data, total, digest = piece.data, piece.total, piece.md5
        else:
            with reader.open(path) as handle:
                handle.seek(start)
                data = handle.read() if end is None else handle.read(end - start)
                total = handle.seek(0, os.SEEK_END)
            digest = None
        if entry is not None and total != entry.size:
            raise IntegrityError(
                f"read {path}: the manifest records {entry.size} bytes, the file has {total}"
            )
        if verify and start == 0 and len(data) == total:
            if entry is None:
                entry = self._entry_for(path)
            if entry is not None:
                found = digest if digest is not None else hashlib.md5(data).hexdigest()
                problem = integrity_problem(entry, len(data), found)
                if problem is not None:
                    raise IntegrityError(f"read {path}: {problem}")
        return data

    def fetch_directory(
        self,
        path: str,
        *,
        force_remote: bool = False,
        overwrite: bool = False,
        concurrency: int | None = None,
        progress: bool | ProgressCallback | None = None,
        tqdm_class: TqdmClass | None = None,
        allow_patterns: str | Sequence[str] | None = None,
        ignore_patterns: str | Sequence[str] | None = None,
        local_dir: str | os.PathLike[str] | None = None,
        verify: bool = True,
    ) -> Path:
        """Local directory holding a registry directory and everything below it.

        Mounted registries are used in place. Remotely, the directory is listed once, files are downloaded
        concurrently over pooled connections and verified against their manifests, each linked file's
        bytes are fetched once and linked locally, and empty directories are created. When the service
        cannot be reached, a settled version that is completely cached is still served, with a warning.

        Args:
            path: ``project/asset/version[/directory]``.
            force_remote: Download even when the registry is mounted.
            overwrite: Download (and copy into ``local_dir``) again even what is cached and verified.
            concurrency: Parallel downloads; the client's setting when ``None``.
            progress: As for :meth:`fetch_file`; a callable receives an event after every file.
            tqdm_class: Draw the bar with this ``tqdm`` class.
            allow_patterns: Fetch only the files matching one of these glob patterns, matched against paths
                relative to ``path`` (see "Cache and offline use" in the docs: ``*`` stays within a
                directory, ``**`` crosses directories, a pattern without ``/`` matches a name at any depth).
            ignore_patterns: Skip the files matching one of these.
            local_dir: Also place a copy of every selected file (and empty directory) here, and return it:
                a copy-on-write clone where the filesystem supports it, else a plain copy, never a link into
                the cache; the registry's internal ``..`` files are not copied. With a mounted registry the
                files are copied from the registry and checked against the manifest.
            verify: Hash each download and each cached copy against its manifest entry. With ``False``,
                downloads are not MD5-hashed, cached copies (and copies already in ``local_dir``) are
                reused without re-hashing, and copies from a mounted registry are checked by size only,
                as :meth:`fetch_file` does for one file; the manifests are still read, for links.

        Returns:
            ``local_dir`` when given, else the directory in the registry or in the cache (which may hold
            more files than the patterns selected, from earlier fetches).

        Raises:
            NotFoundError: When the directory does not exist.
            NotCachedError: Offline, or with the service unreachable, when not everything is cached.
            UnsafePathError: When the listing holds a path that cannot be stored here.
        """
        relative = checked_relative(path.strip("/"))
        select = path_filter(allow_patterns, ignore_patterns)
        target = None if local_dir is None else Path(local_dir)
        reader = self._reader(force_remote)
        if not isinstance(reader, RemoteTransport):
            # A transport handed in may read the registry where it is mounted here, not the service's path.
            base = reader.registry if isinstance(reader, LocalTransport) else Path(self.registry)
            local = base / relative
            if not local.is_dir():
                missing = self._explained(relative, force_remote)
                raise missing or NotFoundError(f"no directory at {path!r} in the registry")
            if target is None:
                return local
            return self._copy_from_registry(reader, base, relative, select, target, overwrite, verify)
        manifests: dict[str, Manifest] = {}
        # The versions' documents read from the service on the way, stored instead of downloaded again.
        received: dict[str, bytes] = {}
        options: dict[str, Any] = {
            "overwrite": overwrite,
            "concurrency": concurrency or self.concurrency,
            "progress": progress,
            "tqdm_class": tqdm_class,
            "select": select,
            "verify": verify,
            # An explicit concurrency fixes the window; the default lets it grow while throughput rises.
            "grow_to": _MAX_WINDOW if concurrency is None and self._adaptive_window else None,
            "received": received,
        }

        def entry_for(item: str) -> ManifestEntry | None:
            return self._entry_for(item, manifests, received=received)

        try:
            items = self._download_items(reader, relative, entry_for, options)
        except NotCachedError:
            raise
        except NotFoundError as exc:
            raise self._explained(relative, force_remote, exc) or exc from None
        if target is None:
            return self._cache.local_path(relative)

        def open_cached(registry_path: str) -> int:
            fd = self._cache.open_file(registry_path)
            if fd is None:
                raise NotCachedError(f"{registry_path} vanished from the cache while being copied")
            return fd

        return copy_into(target, items, open_cached, overwrite=overwrite, check_md5=False, verify=verify)

    def _download_items(
        self,
        reader: RemoteTransport,
        relative: str,
        entry_for: Callable[[str], ManifestEntry | None],
        options: dict[str, Any],
    ) -> list[tuple[str, str, ManifestEntry | None]]:
        """Download a directory, from the cache alone when offline or when the service is unreachable."""
        if reader.offline:
            listing = self._cached_listing(relative)
            return download_directory(
                reader, self._cache, relative, entry_for, listing=listing, cache_only=True, **options
            )
        try:
            return download_directory(reader, self._cache, relative, entry_for, **options)
        except ServiceUnavailableError as exc:
            if not self._settled_parts(relative):
                raise
            listing = self._cached_listing(relative)
            try:
                items = download_directory(
                    reader, self._cache, relative, entry_for, listing=listing, cache_only=True, **options
                )
            except NotCachedError:
                raise exc from None
            logger.warning("%s; serving %s from the cache", exc, relative)
            return items

    def _copy_from_registry(
        self,
        reader: Transport,
        base: Path,
        relative: str,
        select: Callable[[str], bool] | None,
        target: Path,
        overwrite: bool,
        verify: bool,
    ) -> Path:
        manifests: dict[str, Manifest] = {}
        items = []
        for item in reader.list(relative, recursive=True):
            if is_internal(item) or (select is not None and not select(item)):
                continue
            full = f"{relative}/{item.rstrip('/')}"
            items.append((item, full, None if item.endswith("/") else self._entry_for(full, manifests)))

        def open_registry(registry_path: str) -> int:
            # Registry links are symlinks to other versions' files, inside the registry (checked).
            return os.open(join_inside(base, registry_path), os.O_RDONLY | os.O_CLOEXEC)

        return copy_into(target, items, open_registry, overwrite=overwrite, check_md5=verify, verify=verify)

    def _settled_parts(self, path: str) -> bool:
        """Whether ``path`` lies in a version whose cached summary says it is settled (no request)."""
        parts = path.split("/")
        if len(parts) < 3:
            return False
        try:
            version = Project(self, parts[0]).asset(parts[1]).version(parts[2])
        except InvalidRequestError:
            return False
        return self._is_settled(version)

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
        data = self._cache.read_bytes(f"{key}/..manifest")
        if data is None:
            raise NotCachedError(f"{key} is not cached (no manifest in {self.cache_dir})")
        manifest = _parsed(f"{key}/..manifest", lambda: Manifest.from_json(data))
        inside = "/".join(parts[3:])
        prefix = f"{inside}/" if inside else ""
        files: list[str] = []
        empty: list[str] = []
        for name in ("..manifest", "..summary", "..links"):
            if not inside and self._cache.valid(f"{key}/{name}", None):
                files.append(name)
        for item, entry in manifest.items():
            if not item.startswith(prefix):
                continue
            below = item[len(prefix) :]
            (empty if entry.is_directory else files).append(below + ("/" if entry.is_directory else ""))
        if not files and not empty and inside:
            raise NotCachedError(f"no directory at {relative!r} in the cached manifest of {key}")
        return files + empty

    # ------------------------------------------------------------------ helpers used by the handles

    def _subdirectories(self, path: str, force_remote: bool) -> list[str]:
        listing = self._reader(force_remote).list(path)
        return [item[:-1] for item in listing if item.endswith("/") and not item.startswith("..")]

    def _submit(self, action: str, payload: dict[str, Any], context: str) -> dict[str, Any]:
        if self._offline:
            raise ConfigurationError(f"{context}: offline mode sends no request to the service")
        logger.info("submitting %s (%s)", action, context)
        submitter = Submitter(
            self._client_http(),
            self.checked_staging(),
            connect_retries=self.retries,
            wait=self.submit_timeout,
            max_response_size=self._limits.max_response_size,
        )
        return submitter.submit(action, payload, context=context)

    def _manifest(
        self,
        version: Version,
        force_remote: bool,
        overwrite: bool = False,
        *,
        learn: bool = True,
        received: dict[str, bytes] | None = None,
    ) -> Manifest:
        # A settled version's manifest never changes, so its parsed model is kept (a few, bounded).
        remote = isinstance(self._reader(force_remote), RemoteTransport)
        if remote and not overwrite and version.key in self._settled:
            with self._parsed_lock:
                kept = self._parsed_manifests.get(version.key)
                if kept is not None:
                    self._parsed_manifests.move_to_end(version.key)
                    return kept
        data = self._version_document(
            version, "..manifest", force_remote, overwrite, learn=learn, received=received
        )
        manifest = self._document(f"{version.key}/..manifest", force_remote, lambda: Manifest.from_json(data))
        if remote and version.key in self._settled:
            with self._parsed_lock:
                self._parsed_manifests[version.key] = manifest
                while len(self._parsed_manifests) > _PARSED_MANIFESTS:
                    self._parsed_manifests.popitem(last=False)
        return manifest

    def _summary(self, version: Version, force_remote: bool, overwrite: bool = False) -> Summary:
        data = self._version_document(version, "..summary", force_remote, overwrite)
        return self._document(
            f"{version.key}/..summary", force_remote, lambda: Summary.model_validate_json(data)
        )

    def _document(self, what: str, force_remote: bool, parse: Callable[[], _D]) -> _D:
        """Parse a registry document; when it is malformed, first make sure the URL is a Gobbler service."""
        try:
            return _parsed(what, parse)
        except ServiceError:
            reader = self._reader(force_remote)
            if isinstance(reader, RemoteTransport):
                reader.confirm_service()
            raise

    def _version_document(
        self,
        version: Version,
        name: str,
        force_remote: bool,
        overwrite: bool,
        *,
        learn: bool = True,
        received: dict[str, bytes] | None = None,
    ) -> bytes:
        """Bytes of a version's ``..summary`` or ``..manifest``.

        Remotely, the documents of a non-probational version are served from the cache without any
        request: the service never rewrites them (only approval rewrites a summary, and only of a
        probational version). ``overwrite`` asks the service again, for the rare administrative
        rewrites (reindexing, rerouting) and for a version deleted and re-uploaded under the same name.
        Without ``learn``, a version not yet known to be settled is not asked for its summary (one
        request less); its document is still written to the cache, for offline reads and for the
        service being unreachable, but served from there online only once the version is known settled.
        ``received`` collects every document read from the service on the way (the summary asked for to
        learn the version is settled included), by registry path.
        """
        path = f"{version.key}/{name}"
        reader = self._reader(force_remote)
        if not isinstance(reader, RemoteTransport):
            data = reader.read(path)
        elif reader.offline:
            data = self._cache.read_bytes(path)
            if data is None:
                raise NotCachedError(
                    f"{path} is not cached, and offline mode sends no request to the service"
                )
        else:
            settled = not overwrite and self._is_settled(version)
            data = self._cache.read_bytes(path) if settled else None
            logger.debug("%s: %s", "cache hit" if data is not None else "cache miss", path)
            if data is None:
                data = reader.read(path)
                if data is not None and received is not None:
                    received[path] = data
                summary = data if name == "..summary" else None
                if data is not None and (
                    not learn or self._is_settled_now(version, reader, summary, received)
                ):
                    self._cache.write_bytes(path, data)
        if data is None:
            raise version._not_found(force_remote, name.lstrip("."))
        return data

    def _is_settled_now(
        self,
        version: Version,
        remote: RemoteTransport,
        summary: bytes | None,
        received: dict[str, bytes] | None = None,
    ) -> bool:
        """Like :meth:`_is_settled`, asking the service for the summary when nothing cached says.

        The first read of a manifest therefore costs one more request (its summary, which is cached
        too), and every later read of either document costs none.
        """
        if summary is None and not self._is_settled(version):
            summary = remote.read(f"{version.key}/..summary")
            if summary is None:
                return False
            if received is not None:
                received[f"{version.key}/..summary"] = summary
            settled = self._is_settled(version, summary)
            if settled:
                self._cache.write_bytes(f"{version.key}/..summary", summary)
            return settled
        return self._is_settled(version, summary)

    def _is_settled(self, version: Version, summary: bytes | None = None) -> bool:
        """Whether a version is known to be non-probational: its cached (or just fetched) summary says so."""
        if version.key in self._settled:
            return True
        data = summary if summary is not None else self._cache.read_bytes(f"{version.key}/..summary")
        if data is None:
            return False
        try:
            settled = Summary.model_validate_json(data).on_probation is False
        except ValueError:
            return False
        if settled:
            self._settled.add(version.key)
        return settled

    def _set_permissions(
        self,
        project: Project,
        asset: str | None,
        owners: Sequence[str] | None,
        uploaders: Sequence[Uploader | Mapping[str, Any]] | None,
        global_write: bool | None,
        append: bool,
        dry_run: bool,
        spoof: str | None,
    ) -> dict[str, Any]:
        owners, new_uploaders = _owner_list(owners), _uploader_list(uploaders)
        permissions: dict[str, Any] = {}
        if append and (owners is not None or new_uploaders is not None):
            holder = project.asset(asset) if asset else project
            current: Permissions = holder.permissions()
            if owners is not None:
                known = list(current.owners)
                permissions["owners"] = known + [o for o in owners if o not in set(known)]
            if new_uploaders is not None:
                # Stored entries are resent as stored: the model would respell their 'until' timestamps.
                stored = holder._read_json("..permissions", False) or {}
                permissions["uploaders"] = list(stored.get("uploaders") or []) + new_uploaders
        else:
            if owners is not None:
                permissions["owners"] = list(owners)
            if new_uploaders is not None:
                permissions["uploaders"] = new_uploaders
        payload: dict[str, Any] = {"project": project.name}
        if asset is not None:
            payload["asset"] = asset
        elif global_write is not None:
            permissions["global_write"] = global_write
        if dry_run:
            return permissions
        payload["permissions"] = permissions
        if spoof is not None:
            payload["spoof"] = spoof
        where = f"{project.name}/{asset}" if asset else project.name
        self._submit("set_permissions", payload, f"set permissions of {where}")
        return permissions

    def _upload(
        self,
        version: Version,
        directory: Path,
        probation: bool,
        consume: bool | None,
        ignore_dot: bool,
        spoof: str | None,
        concurrency: int | None,
        progress: bool | ProgressCallback | None,
        follow_symlinks: bool = False,
    ) -> None:
        if self._offline:
            raise ConfigurationError(f"upload {version.key}: offline mode sends no request to the service")
        if not directory.is_dir():
            raise InvalidRequestError(f"cannot upload {directory}: not a directory")
        staging = self.checked_staging()
        in_place = is_direct_child(directory, staging)
        what = f"upload {version.key}"
        payload: dict[str, Any] = {
            "project": version.project.name,
            "asset": version.asset.name,
            "version": version.name,
            "on_probation": probation,
            "consume": (not in_place) if consume is None else consume,
            "ignore_dot": ignore_dot,
        }
        if spoof is not None:
            payload["spoof"] = spoof
        if in_place:
            self._submit("upload", {"source": directory.name, **payload}, what)
            return
        sweep_abandoned(staging, older_than=ABANDONED_AFTER)
        try:
            # The scan refuses what the service would refuse before the copy exists.
            plan = check_tree(
                directory,
                ignore_dot=ignore_dot,
                follow_symlinks=follow_symlinks,
                registry=self._registry_path(),
            )
            copy = StagingCopy(staging)
        except OSError as exc:
            raise error_from_oserror(exc, f"{what}: cannot read {directory}") from exc
        try:
            try:
                copy_plan(
                    directory, copy.fd, plan, concurrency=concurrency or self.concurrency, progress=progress
                )
            except OSError as exc:
                raise error_from_oserror(exc, f"{what}: cannot copy {directory} into staging") from exc
            self._submit("upload", {"source": copy.path.name, **payload}, what)
        finally:
            copy.remove()

    def _registry_path(self) -> str | None:
        """The registry's path as the service sees it, to recognise registry links (``None``: unknown)."""
        try:
            return self.registry
        except GobblerError:
            return None

    def _clone(self, version: Version, destination: Path) -> Path:
        registry = Path(self.registry)
        if not registry.is_dir():
            raise ConfigurationError(f"cloning needs the registry mounted at {registry}")
        manifest = self._manifest(version, False)
        base = registry / version.key
        # Every path is checked before the first link is made, so a bad manifest leaves nothing behind.
        for relative in manifest:
            checked_relative(relative)
        try:
            for relative, entry in manifest.items():
                target = destination / relative
                if entry.is_directory:
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(base / relative, target)
            destination.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise error_from_oserror(exc, f"clone {version.key} into {destination}") from exc
        return destination

    # ------------------------------------------------ issue 21 (thin delegation to gobbler_sdk.changes)

    def changes(self, since: datetime, *, force_remote: bool = False) -> ChangeFeed:
        """The registry's journal of changes from ``since`` on, as typed events in time order.

        See :func:`gobbler_sdk.changes.changes`.
        """
        from .changes import changes

        return changes(self, since, force_remote=force_remote)
