"""Reading the registry with pygobbler's flat functions: documents, listings, files and paths.

Signatures match pygobbler 0.1.11 exactly, annotations included, which is why this module evaluates its
annotations eagerly (no ``from __future__ import annotations``) and spells some of them with
``typing.List``/``typing.Dict``. Documents are returned as the JSON the service stored, byte-for-byte
equivalent: no model round trip, so timestamps and unknown keys survive unchanged.
"""
# ruff: noqa: UP006, UP035
# mypy: disable-error-code="no-untyped-def, type-arg"

import json
from typing import Any, Dict, List, Literal

from ..errors import NotFoundError, ServiceError
from ._clients import client_for

__all__ = [
    "fetch_directory",
    "fetch_file",
    "fetch_latest",
    "fetch_manifest",
    "fetch_permissions",
    "fetch_summary",
    "fetch_usage",
    "list_assets",
    "list_files",
    "list_projects",
    "list_versions",
    "service_info",
    "unpack_path",
    "version_path",
]


def fetch_permissions(
    project: str,
    registry: str,
    url: str,
    asset: str | None = None,
    force_remote: bool = False,
) -> Dict[str, Any]:
    """The stored permissions of a project, or of one of its assets.

    Args:
        project: Project name.
        registry: The registry directory (read directly when it exists here).
        url: The service's REST API, used when the registry is not mounted or with ``force_remote``.
        asset: Asset name, for the asset's own permissions.
        force_remote: Read through the REST API even when the registry is mounted.

    Returns:
        The ``..permissions`` document as stored (``owners``, ``uploaders``, maybe ``global_write``). An
        asset without permissions of its own gives ``{"owners": [], "uploaders": []}``.

    Raises:
        NotFoundError: When the project does not exist.
    """
    client = client_for(url=url, registry=registry, remote=force_remote)
    holder = client.project(project) if asset is None else client.project(project).asset(asset)
    # The document as stored (no model round trip), malformed ones a ServiceError.
    try:
        data = client.read_document(f"{holder.key}/..permissions")
    except NotFoundError:
        if asset is None:
            raise NotFoundError(f"project {project} does not exist") from None
        return {"owners": [], "uploaders": []}
    return _stored_json(f"{holder.key}/..permissions", data)


def _stored_json(what: str, data: bytes) -> Dict[str, Any]:
    """A registry document's JSON object as stored; a malformed one is a :class:`ServiceError`."""
    try:
        stored = json.loads(data)
    except ValueError as exc:
        raise ServiceError(f"{what} is not a valid registry document: {exc}") from None
    if not isinstance(stored, dict):
        raise ServiceError(f"{what} is not a valid registry document: not a JSON object")
    return stored


def fetch_latest(project: str, asset: str, registry: str, url: str, force_remote: bool = False) -> str | None:
    """Name of the asset's latest non-probational version, or ``None`` when it has none (or does not exist).

    Args:
        project: Project name.
        asset: Asset name.
        registry: The registry directory.
        url: The service's REST API.
        force_remote: Read through the REST API even when the registry is mounted.
    """
    client = client_for(url=url, registry=registry, remote=force_remote)
    try:
        latest = client.project(project).asset(asset).latest()
    except NotFoundError:
        # pygobbler answers None for a missing project or asset too.
        return None
    return None if latest is None else latest.name


def _version_document(
    project: str,
    asset: str,
    version: str,
    name: Literal["..summary", "..manifest"],
    registry: str,
    url: str,
    cache: str | None,
    remote: bool,
    overwrite: bool,
) -> Dict[str, Any]:
    client = client_for(url=url, registry=registry, cache=cache, remote=remote)
    handle = client.project(project).asset(asset).version(version)
    # The handle's own document read: settled versions' documents come from the cache remotely.
    data = handle.read_document(name, overwrite=overwrite)
    return _stored_json(f"{handle.key}/{name}", data)


def fetch_summary(
    project: str,
    asset: str,
    version: str,
    registry: str,
    url: str,
    cache: str | None = None,
    force_remote: bool = False,
    overwrite: bool = False,
) -> Dict[str, Any]:
    """The version's ``..summary`` as stored (uploader, start and finish times, probation flag).

    Remotely, the summary of a non-probational version is cached and then read without a request (only
    approval rewrites a summary, and only a probational one); ``overwrite`` asks the service again.

    Args:
        project: Project name.
        asset: Asset name.
        version: Version name.
        registry: The registry directory.
        url: The service's REST API.
        cache: Root of the download cache.
        force_remote: Read through the REST API even when the registry is mounted.
        overwrite: Ask the service again even when a cached copy exists.

    Raises:
        NotFoundError: When the version does not exist.
    """
    return _version_document(
        project, asset, version, "..summary", registry, url, cache, force_remote, overwrite
    )


def fetch_manifest(
    project: str,
    asset: str,
    version: str,
    registry: str,
    url: str,
    cache: str | None = None,
    force_remote: bool = False,
    overwrite: bool = False,
) -> Dict[str, Any]:
    """The version's ``..manifest`` as stored: path → ``size``, ``md5sum`` and, for links, ``link``.

    A ``link`` holds ``project``, ``asset``, ``version`` and ``path`` of its target and, when that target is
    itself a link, an ``ancestor`` naming the file that holds the bytes. Remotely, the manifest of a
    non-probational version is cached and then read without a request; ``overwrite`` asks the service again
    (after an administrator reindexed or rerouted the version).

    Args:
        project: Project name.
        asset: Asset name.
        version: Version name.
        registry: The registry directory.
        url: The service's REST API.
        cache: Root of the download cache.
        force_remote: Read through the REST API even when the registry is mounted.
        overwrite: Ask the service again even when a cached copy exists.

    Raises:
        NotFoundError: When the version does not exist.
    """
    return _version_document(
        project, asset, version, "..manifest", registry, url, cache, force_remote, overwrite
    )


def fetch_usage(project: str, registry: str, url: str, force_remote: bool = False) -> str | None:
    """Bytes used by the project, as last recorded by the service (an ``int``, as in pygobbler).

    Args:
        project: Project name.
        registry: The registry directory.
        url: The service's REST API.
        force_remote: Read through the REST API even when the registry is mounted.

    Raises:
        NotFoundError: When the project does not exist.
    """
    client = client_for(url=url, registry=registry, remote=force_remote)
    # The annotation is pygobbler's (kept for an identical signature); the value is the stored integer.
    return client.project(project).usage()  # type: ignore[return-value]


def fetch_file(
    path: str,
    registry: str,
    url: str,
    cache: str | None = None,
    force_remote: bool = False,
    overwrite: bool = False,
) -> str:
    """Local path of a registry file: the registry's own when mounted, else a verified cached copy.

    Remote downloads are checked against the version's manifest (size and MD5) before they are moved into
    place, and a cached copy is reused only after the same check.

    Args:
        path: ``project/asset/version/path`` of the file.
        registry: The registry directory.
        url: The service's REST API.
        cache: Root of the download cache.
        force_remote: Download even when the registry is mounted.
        overwrite: Download again even when a verified copy is cached.

    Raises:
        NotFoundError: When the file does not exist.
        IntegrityError: When the downloaded bytes do not match the manifest.
    """
    client = client_for(url=url, registry=registry, cache=cache, remote=force_remote)
    return str(client.fetch_file(path, overwrite=overwrite))


def fetch_directory(
    path: str,
    registry: str,
    url: str,
    cache: str | None = None,
    force_remote: bool = False,
    overwrite: bool = False,
    concurrent: int = 1,
) -> str:
    """Local path of a registry directory: the registry's own when mounted, else a verified cached copy.

    Remotely the directory is listed once and its files are downloaded over pooled connections, each
    verified against its manifest; empty directories are recreated.

    Args:
        path: Registry-relative directory, usually ``project/asset/version``.
        registry: The registry directory.
        url: The service's REST API.
        cache: Root of the download cache.
        force_remote: Download even when the registry is mounted.
        overwrite: Download again even when verified copies are cached.
        concurrent: Parallel downloads (threads).

    Raises:
        NotFoundError: When the directory does not exist.
    """
    client = client_for(url=url, registry=registry, cache=cache, remote=force_remote)
    return str(client.fetch_directory(path, overwrite=overwrite, concurrency=concurrent))


def list_projects(registry: str, url: str, force_remote: bool = False) -> List[str]:
    """Names of every project in the registry (sorted).

    Args:
        registry: The registry directory.
        url: The service's REST API.
        force_remote: List through the REST API even when the registry is mounted.
    """
    client = client_for(url=url, registry=registry, remote=force_remote)
    return [project.name for project in client.projects()]


def list_assets(project: str, registry: str, url: str, force_remote: bool = False) -> List[str]:
    """Names of every asset of a project (sorted).

    Args:
        project: Project name.
        registry: The registry directory.
        url: The service's REST API.
        force_remote: List through the REST API even when the registry is mounted.

    Raises:
        NotFoundError: When the project does not exist.
    """
    client = client_for(url=url, registry=registry, remote=force_remote)
    return [asset.name for asset in client.project(project).assets()]


def list_versions(project: str, asset: str, registry: str, url: str, force_remote: bool = False) -> List[str]:
    """Names of every version of an asset, probational ones included, in the listing's bytewise order.

    pygobbler's order (``v10`` before ``v2``); :meth:`gobbler_sdk.Asset.versions` sorts naturally.

    Args:
        project: Project name.
        asset: Asset name.
        registry: The registry directory.
        url: The service's REST API.
        force_remote: List through the REST API even when the registry is mounted.

    Raises:
        NotFoundError: When the asset does not exist.
    """
    client = client_for(url=url, registry=registry, remote=force_remote)
    handle = client.project(project).asset(asset)
    # The listing's own order, as pygobbler returns it.
    return [
        item[:-1] for item in client.listing(handle.key) if item.endswith("/") and not item.startswith("..")
    ]


def list_files(
    project: str,
    asset: str,
    version: str,
    registry: str,
    url: str,
    prefix: str | None = None,
    include_dotdot: bool = True,
    force_remote: bool = False,
) -> List[str]:
    """Relative paths of everything in a version, as the service's recursive listing gives them.

    Files (symlinks included) come first, then the deepest empty directories with a trailing ``/``; the
    result is always a ``list``, whatever the options.

    Args:
        project: Project name.
        asset: Asset name.
        version: Version name.
        registry: The registry directory.
        url: The service's REST API.
        prefix: Keep only paths that start with this text (``"sub/"`` for a sub-directory).
        include_dotdot: Keep paths with a component starting with ``..`` (the internal files).
        force_remote: List through the REST API even when the registry is mounted.

    Raises:
        NotFoundError: When the version does not exist.
    """
    client = client_for(url=url, registry=registry, remote=force_remote)
    handle = client.project(project).asset(asset).version(version)
    return handle.files(prefix, include_dotdot=include_dotdot, empty_directories=True)


def service_info(url: str) -> Dict[str, Any]:
    """Where the service keeps its registry and staging directory: ``{"registry": ..., "staging": ...}``.

    Args:
        url: The service's REST API.

    Raises:
        ServiceUnavailableError: When the service cannot be reached.
    """
    return client_for(url=url).service_info().model_dump()


def version_path(project, asset, version, **kwargs) -> str:
    """Local path of a whole version: :func:`fetch_directory` of ``project/asset/version``.

    Args:
        project: Project name.
        asset: Asset name.
        version: Version name.
        **kwargs: Further arguments of :func:`fetch_directory` (``registry`` and ``url`` at least).
    """
    return fetch_directory(f"{project}/{asset}/{version}", **kwargs)


def unpack_path(path: str) -> Dict[str, str]:
    """Split ``project/asset/version[/path]`` into its parts.

    Args:
        path: A registry-relative path.

    Returns:
        ``{"project": ..., "asset": ..., "version": ..., "path": ...}``; ``path`` is ``None`` when the
        path names the version itself.

    Raises:
        InvalidRequestError: When the path has fewer than three components.
        InvalidNameError: When a project, asset or version name is invalid.
        UnsafePathError: When the path contains empty, ``.`` or ``..`` components.
    """
    handle, inside = client_for().unpack_path(path)
    parts: Dict[str, Any] = {
        "project": handle.project.name,
        "asset": handle.asset.name,
        "version": handle.name,
        "path": inside,
    }
    return parts
