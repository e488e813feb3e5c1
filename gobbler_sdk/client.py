"""The client session: configuration, transports, request submission and the handle factory.

Typical use::

    from gobbler_sdk import GobblerClient

    with GobblerClient("http://gobbler.example:8080") as client:
        asset = client.project("my-project").asset("my-asset")
        version = asset.upload("v1", "path/to/dir")
        print(version.manifest().total_size, [v.name for v in asset.versions()])
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import httpx
import platformdirs

from ._arguments import items_of
from ._cache import Cache
from ._directory import download_directory
from ._fetcher import Fetcher, direct_connection_possible
from ._http import RetryableStatus, check_identity, is_retryable, make_http_client, with_retries
from ._log import logger
from ._pathsafety import checked_relative
from ._progress import ProgressCallback
from ._staging import allocate_directory, is_direct_child, stage_copy
from ._submit import Submitter
from .errors import ConfigurationError, InvalidRequestError, NotFoundError, ServiceError
from .handles import Asset, Project, Version, _owner_list, _parsed, _uploader_list
from .models import Manifest, ManifestEntry, Permissions, RerouteChange, ServiceInfo, Summary, Uploader
from .transports import LocalTransport, RemoteTransport, Transport

__all__ = ["GobblerClient"]

TransportChoice = Literal["auto", "local", "remote"]

_D = TypeVar("_D")


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
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
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
        timeout: Seconds allowed for each read request (submissions wait for the service to finish).
        concurrency: Parallel downloads and copies.
        retries: Further attempts for idempotent reads after a transient failure.

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
        concurrency: int = 8,
        retries: int = 3,
    ) -> None:
        _check_options(url, transport, timeout, concurrency, retries)
        self._url = (url or os.environ.get("GOBBLER_URL") or "").rstrip("/") or None
        if self._url is not None:
            _check_url(self._url)
        self._staging = _env_path(staging, "GOBBLER_STAGING")
        self._registry = _env_path(registry, "GOBBLER_REGISTRY")
        cache_dir = _env_path(cache, "GOBBLER_CACHE") or platformdirs.user_cache_dir("gobbler-sdk")
        self._cache = Cache(cache_dir)
        self.timeout = timeout
        self.concurrency = concurrency
        self.retries = retries
        self._choice = transport
        self._http: httpx.Client | None = None
        self._info: ServiceInfo | None = None
        self._transport: Transport | None = transport if not isinstance(transport, str) else None
        self._remote: RemoteTransport | None = None
        # Versions whose summary says they are not probational: their documents can be cached for good.
        self._settled: set[str] = set()

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
    def transport(self) -> Transport:
        """The transport used for reads (resolved on first use)."""
        if self._transport is None:
            self._transport = self._resolve_transport()
        return self._transport

    def _resolve_transport(self) -> Transport:
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
            fetcher = (
                Fetcher(self.url, timeout=self.timeout) if direct_connection_possible(self.url) else None
            )
            if fetcher is None:
                logger.info("a proxy is configured for %s: reads go through httpx", self.url)
            self._remote = RemoteTransport(
                self._client_http,
                self._cache,
                retries=self.retries,
                fetcher=fetcher,
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
        """Close the HTTP connections."""
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
            http = self._client_http()

            def attempt() -> httpx.Response:
                response = http.get("/info")
                if is_retryable(response):
                    raise RetryableStatus.of(response)
                return response

            response = with_retries(attempt, retries=self.retries, what="service info")
            document = check_identity(
                self.url, response.status_code, response.headers.get("content-type"), response.content
            )
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
        return allocate_directory(self.staging, create=create)

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

    def _entry_for(self, path: str, manifests: dict[str, Manifest] | None = None) -> ManifestEntry | None:
        parts = path.split("/")
        if len(parts) < 4 or any(part.startswith("..") for part in parts):
            return None
        key = "/".join(parts[:3])
        # A directory download reads each version's manifest once, not once per file.
        manifest = manifests.get(key) if manifests is not None else None
        if manifest is None:
            manifest = self._manifest(Project(self, parts[0]).asset(parts[1]).version(parts[2]), True)
            if manifests is not None:
                manifests[key] = manifest
        entry = manifest.get("/".join(parts[3:]))
        if entry is None:
            raise NotFoundError(f"{path!r} is not in the manifest of {key}")
        return entry

    def fetch_file(
        self, path: str, *, force_remote: bool = False, overwrite: bool = False, verify: bool = True
    ) -> Path:
        """Local path of a registry file: the registry's own when mounted, else a verified cached copy.

        Args:
            path: ``project/asset/version/file`` (internal ``..`` files allowed).
            force_remote: Download even when the registry is mounted.
            overwrite: Download again even when a verified copy is cached.
            verify: Check a download's size and MD5 against the manifest (and a cached copy's before
                reusing it). Turning it off saves the hashing for callers that check content themselves.

        Raises:
            NotFoundError: When the file does not exist.
            IntegrityError: When downloaded bytes do not match the manifest.
        """
        checked_relative(path)
        try:
            return self._fetch_file(path, force_remote, overwrite, verify)
        except NotFoundError as exc:
            raise self._explained(path, force_remote, exc) or exc from None

    def _explained(
        self, path: str, force_remote: bool, cause: NotFoundError | None = None
    ) -> NotFoundError | None:
        """For a path that was not found, the error naming its missing project, asset or version, if any."""
        parts = path.strip("/").split("/")
        try:
            project = Project(self, parts[0])
            asset = project.asset(parts[1]) if len(parts) > 1 else None
            version = asset.version(parts[2]) if asset is not None and len(parts) > 2 else None
        except InvalidRequestError:
            return None
        return (version or asset or project)._missing(force_remote, cause)

    def _fetch_file(self, path: str, force_remote: bool, overwrite: bool, verify: bool) -> Path:
        reader = self._reader(force_remote)
        if isinstance(reader, RemoteTransport):
            internal = any(part.startswith("..") for part in path.split("/"))
            if not verify and not internal:
                # Nothing to check the bytes against, so the manifest is not even read.
                return reader.fetch(path, overwrite=overwrite, verify=False)
            entry = self._entry_for(path)
            if entry is not None and entry.is_directory:
                # The file server would answer with a redirect to a listing; locally it is simply no file.
                raise NotFoundError(f"{path!r} is an empty directory, not a file")
            # Internal files change (summaries on approval), so they are always fetched anew.
            return reader.fetch(path, entry=entry, overwrite=overwrite or entry is None, verify=verify)
        return reader.fetch(path, overwrite=overwrite)

    def fetch_directory(
        self,
        path: str,
        *,
        force_remote: bool = False,
        overwrite: bool = False,
        concurrency: int | None = None,
        progress: bool | ProgressCallback | None = None,
    ) -> Path:
        """Local directory holding a registry directory and everything below it.

        Mounted registries are used in place. Remotely, the directory is listed once, files are downloaded
        concurrently over pooled connections and verified against their manifests, each linked file's
        bytes are fetched once and linked locally, and empty directories are created.

        Raises:
            NotFoundError: When the directory does not exist.
        """
        relative = checked_relative(path.strip("/"))
        reader = self._reader(force_remote)
        if not isinstance(reader, RemoteTransport):
            # A transport handed in may read the registry where it is mounted here, not the service's path.
            base = reader.registry if isinstance(reader, LocalTransport) else Path(self.registry)
            local = base / relative
            if not local.is_dir():
                missing = self._explained(relative, force_remote)
                raise missing or NotFoundError(f"no directory at {path!r} in the registry")
            return local
        try:
            return self._download_directory(
                reader, relative, overwrite, concurrency or self.concurrency, progress
            )
        except NotFoundError as exc:
            raise self._explained(relative, force_remote, exc) or exc from None

    def _download_directory(
        self,
        remote: RemoteTransport,
        relative: str,
        overwrite: bool,
        concurrency: int,
        progress: bool | ProgressCallback | None,
    ) -> Path:
        manifests: dict[str, Manifest] = {}
        return download_directory(
            remote,
            self._cache,
            relative,
            lambda path: self._entry_for(path, manifests),
            overwrite=overwrite,
            concurrency=concurrency,
            progress=progress,
        )

    # ------------------------------------------------------------------ helpers used by the handles

    def _subdirectories(self, path: str, force_remote: bool) -> list[str]:
        listing = self._reader(force_remote).list(path)
        return [item[:-1] for item in listing if item.endswith("/") and not item.startswith("..")]

    def _submit(self, action: str, payload: dict[str, Any], context: str) -> dict[str, Any]:
        logger.info("submitting %s (%s)", action, context)
        return Submitter(self._client_http(), self.staging, connect_retries=self.retries).submit(
            action, payload, context=context
        )

    def _manifest(self, version: Version, force_remote: bool, overwrite: bool = False) -> Manifest:
        data = self._version_document(version, "..manifest", force_remote, overwrite)
        return self._document(f"{version.key}/..manifest", force_remote, lambda: Manifest.from_json(data))

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

    def _version_document(self, version: Version, name: str, force_remote: bool, overwrite: bool) -> bytes:
        """Bytes of a version's ``..summary`` or ``..manifest``.

        Remotely, the documents of a non-probational version are served from the cache without any
        request: the service never rewrites them (only approval rewrites a summary, and only of a
        probational version). ``overwrite`` asks the service again, for the rare administrative
        rewrites (reindexing, rerouting) and for a version deleted and re-uploaded under the same name.
        """
        path = f"{version.key}/{name}"
        reader = self._reader(force_remote)
        if not isinstance(reader, RemoteTransport):
            data = reader.read(path)
        else:
            settled = not overwrite and self._is_settled(version)
            data = self._cache.read_bytes(path) if settled else None
            logger.debug("%s: %s", "cache hit" if data is not None else "cache miss", path)
            if data is None:
                data = reader.read(path)
                if data is not None and self._is_settled_now(
                    version, reader, data if name == "..summary" else None
                ):
                    self._cache.write_bytes(path, data)
        if data is None:
            raise version._not_found(force_remote, name.lstrip("."))
        return data

    def _is_settled_now(self, version: Version, remote: RemoteTransport, summary: bytes | None) -> bool:
        """Like :meth:`_is_settled`, asking the service for the summary when nothing cached says.

        The first read of a manifest therefore costs one more request (its summary, which is cached
        too), and every later read of either document costs none.
        """
        if summary is None and not self._is_settled(version):
            summary = remote.read(f"{version.key}/..summary")
            if summary is None:
                return False
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
    ) -> None:
        if not directory.is_dir():
            raise InvalidRequestError(f"cannot upload {directory}: not a directory")
        staging = self.staging
        in_place = is_direct_child(directory, staging)
        source = directory
        if not in_place:
            source = allocate_directory(staging)
        try:
            if not in_place:
                stage_copy(
                    directory,
                    source,
                    ignore_dot=ignore_dot,
                    concurrency=concurrency or self.concurrency,
                    progress=progress,
                )
            payload: dict[str, Any] = {
                "source": source.name,
                "project": version.project.name,
                "asset": version.asset.name,
                "version": version.name,
                "on_probation": probation,
                "consume": (not in_place) if consume is None else consume,
                "ignore_dot": ignore_dot,
            }
            if spoof is not None:
                payload["spoof"] = spoof
            self._submit("upload", payload, f"upload {version.key}")
        finally:
            if not in_place:
                shutil.rmtree(source, ignore_errors=True)

    def _clone(self, version: Version, destination: Path) -> Path:
        registry = Path(self.registry)
        if not registry.is_dir():
            raise ConfigurationError(f"cloning needs the registry mounted at {registry}")
        manifest = self._manifest(version, False)
        base = registry / version.key
        # Every path is checked before the first link is made, so a bad manifest leaves nothing behind.
        for relative in manifest:
            checked_relative(relative)
        for relative, entry in manifest.items():
            target = destination / relative
            if entry.is_directory:
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(base / relative, target)
        destination.mkdir(parents=True, exist_ok=True)
        return destination
