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
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import httpx
import platformdirs

from ._cache import Cache
from ._directory import download_directory
from ._fetcher import Fetcher, direct_connection_possible
from ._http import RetryableStatus, error_from_response, is_retryable, make_http_client, with_retries
from ._pathsafety import checked_relative
from ._progress import ProgressCallback
from ._staging import allocate_directory, is_direct_child, stage_copy
from ._submit import Submitter
from .errors import ConfigurationError, InvalidRequestError, NotFoundError
from .handles import Asset, Project, Version, _parsed, _uploader_json
from .models import Manifest, ManifestEntry, Permissions, RerouteChange, ServiceInfo, Summary, Uploader
from .transports import LocalTransport, RemoteTransport, Transport

__all__ = ["GobblerClient"]

# Parallel copies, and the download window's starting size, when ``concurrency`` is not given.
_DEFAULT_CONCURRENCY = 8
# The adaptive download window's ceiling: 64 requests in flight filled a 20 ms round trip (performance page).
_MAX_WINDOW = 64
# Parsed manifests of settled versions kept per client (a 2,000-entry manifest costs ~1 ms to parse).
_PARSED_MANIFESTS = 4

TransportChoice = Literal["auto", "local", "remote"]


def _env_path(value: str | os.PathLike[str] | None, variable: str) -> str | None:
    if value is not None:
        return os.fspath(value)
    return os.environ.get(variable) or None


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
        concurrency: Parallel downloads and copies. ``None`` (the default) means 8 parallel copies and a
            download window that starts at 8 requests in flight and grows (up to 64) while that raises
            throughput, so a directory download fills a network with a long round trip without
            crowding a service next door (see the performance page).
        retries: Further attempts for idempotent reads after a transient failure.
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
    ) -> None:
        self._url = (url or os.environ.get("GOBBLER_URL") or "").rstrip("/") or None
        self._staging = _env_path(staging, "GOBBLER_STAGING")
        self._registry = _env_path(registry, "GOBBLER_REGISTRY")
        cache_dir = _env_path(cache, "GOBBLER_CACHE") or platformdirs.user_cache_dir("gobbler-sdk")
        self._cache = Cache(cache_dir)
        if concurrency is not None and concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if isinstance(transport, str) and transport not in ("auto", "local", "remote"):
            raise ValueError(f"transport must be 'auto', 'local', 'remote' or a Transport, not {transport!r}")
        self.timeout = timeout
        self.concurrency = concurrency or _DEFAULT_CONCURRENCY
        self._adaptive_window = concurrency is None
        self.retries = retries
        self._choice = transport
        self._http: httpx.Client | None = None
        self._info: ServiceInfo | None = None
        self._transport: Transport | None = transport if not isinstance(transport, str) else None
        self._remote: RemoteTransport | None = None
        # Versions whose summary says they are not probational: their documents can be cached for good.
        self._settled: set[str] = set()
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
            return LocalTransport(registry)
        return self._remote_transport()

    def _remote_transport(self) -> RemoteTransport:
        if self._remote is None:
            fetcher = (
                Fetcher(self.url, timeout=self.timeout) if direct_connection_possible(self.url) else None
            )
            self._remote = RemoteTransport(
                self._client_http, self._cache, retries=self.retries, fetcher=fetcher
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

    def __enter__(self) -> GobblerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GobblerClient(url={self._url!r}, registry={self._registry!r}, staging={self._staging!r})"

    # ------------------------------------------------------------------ service-level operations

    def service_info(self) -> ServiceInfo:
        """Staging and registry paths as the service reports them (``GET /info``; cached)."""
        if self._info is None:
            http = self._client_http()

            def attempt() -> httpx.Response:
                response = http.get("/info")
                if is_retryable(response):
                    raise RetryableStatus.of(response)
                return response

            response = with_retries(attempt, retries=self.retries, what="service info")
            if response.status_code != 200:
                raise error_from_response(response, "service info")
            self._info = _parsed(
                "the answer of GET /info", lambda: ServiceInfo.model_validate_json(response.content)
            )
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
        uploaders: Sequence[Uploader | dict[str, Any]] | None = None,
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
        """
        targets = [self._reroute_target(item) for item in to_delete]
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

    def _entry_for(
        self, path: str, manifests: dict[str, Manifest] | None = None, *, learn: bool = True
    ) -> ManifestEntry | None:
        parts = path.split("/")
        if len(parts) < 4 or any(part.startswith("..") for part in parts):
            return None
        key = "/".join(parts[:3])
        # A directory download reads each version's manifest once, not once per file.
        manifest = manifests.get(key) if manifests is not None else None
        if manifest is None:
            version = Project(self, parts[0]).asset(parts[1]).version(parts[2])
            manifest = self._manifest(version, True, learn=learn)
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
        reader = self._reader(force_remote)
        if isinstance(reader, RemoteTransport):
            internal = any(part.startswith("..") for part in path.split("/"))
            if not verify and not internal:
                # Nothing to check the bytes against, so the manifest is not even read.
                return reader.fetch(path, overwrite=overwrite, verify=False)
            # One request for the manifest, one for the file: whether the version is settled (so that
            # its manifest may be cached) is not worth a third round trip before the download.
            entry = self._entry_for(path, learn=False)
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
                raise NotFoundError(f"no directory at {path!r} in the registry")
            return local
        return self._download_directory(
            reader, relative, overwrite, concurrency or self.concurrency, progress, concurrency is None
        )

    def _download_directory(
        self,
        remote: RemoteTransport,
        relative: str,
        overwrite: bool,
        concurrency: int,
        progress: bool | ProgressCallback | None,
        adaptive: bool = False,
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
            grow_to=_MAX_WINDOW if adaptive and self._adaptive_window else None,
        )

    # ------------------------------------------------------------------ helpers used by the handles

    def _subdirectories(self, path: str, force_remote: bool) -> list[str]:
        listing = self._reader(force_remote).list(path)
        return [item[:-1] for item in listing if item.endswith("/") and not item.startswith("..")]

    def _submit(self, action: str, payload: dict[str, Any], context: str) -> dict[str, Any]:
        return Submitter(self._client_http(), self.staging, connect_retries=self.retries).submit(
            action, payload, context=context
        )

    def _manifest(
        self, version: Version, force_remote: bool, overwrite: bool = False, *, learn: bool = True
    ) -> Manifest:
        # A settled version's manifest never changes, so its parsed model is kept (a few, bounded).
        remote = isinstance(self._reader(force_remote), RemoteTransport)
        if remote and not overwrite and version.key in self._settled:
            with self._parsed_lock:
                kept = self._parsed_manifests.get(version.key)
                if kept is not None:
                    self._parsed_manifests.move_to_end(version.key)
                    return kept
        data = self._version_document(version, "..manifest", force_remote, overwrite, learn=learn)
        manifest = _parsed(f"{version.key}/..manifest", lambda: Manifest.from_json(data))
        if remote and version.key in self._settled:
            with self._parsed_lock:
                self._parsed_manifests[version.key] = manifest
                while len(self._parsed_manifests) > _PARSED_MANIFESTS:
                    self._parsed_manifests.popitem(last=False)
        return manifest

    def _summary(self, version: Version, force_remote: bool, overwrite: bool = False) -> Summary:
        data = self._version_document(version, "..summary", force_remote, overwrite)
        return _parsed(f"{version.key}/..summary", lambda: Summary.model_validate_json(data))

    def _version_document(
        self, version: Version, name: str, force_remote: bool, overwrite: bool, *, learn: bool = True
    ) -> bytes:
        """Bytes of a version's ``..summary`` or ``..manifest``.

        Remotely, the documents of a non-probational version are served from the cache without any
        request: the service never rewrites them (only approval rewrites a summary, and only of a
        probational version). ``overwrite`` asks the service again, for the rare administrative
        rewrites (reindexing, rerouting) and for a version deleted and re-uploaded under the same name.
        Without ``learn``, a version not yet known to be settled is not asked for its summary (one
        request less), and its document is then not cached.
        """
        path = f"{version.key}/{name}"
        reader = self._reader(force_remote)
        if not isinstance(reader, RemoteTransport):
            data = reader.read(path)
        else:
            settled = not overwrite and self._is_settled(version)
            data = self._cache.read_bytes(path) if settled else None
            if data is None:
                data = reader.read(path)
                summary = data if name == "..summary" else None
                if data is not None and (
                    self._is_settled_now(version, reader, summary)
                    if learn
                    else self._is_settled(version, summary)
                ):
                    self._cache.write_bytes(path, data)
        if data is None:
            raise NotFoundError(f"version {version.key} does not exist (no {name.lstrip('.')})")
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
        uploaders: Sequence[Uploader | dict[str, Any]] | None,
        global_write: bool | None,
        append: bool,
        dry_run: bool,
        spoof: str | None,
    ) -> dict[str, Any]:
        new_uploaders = None if uploaders is None else [_uploader_json(u) for u in uploaders]
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
