"""Changing the registry with pygobbler's flat functions: projects, uploads, permissions and maintenance.

Signatures match pygobbler 0.1.11 exactly, annotations included (hence eager annotations and the
``typing.List``/``typing.Dict`` spellings). Each function submits one request through a shared
:class:`~gobbler_sdk.GobblerClient`, so failures raise the typed :class:`~gobbler_sdk.GobblerError`
hierarchy carrying the service's HTTP status and reason.
"""
# ruff: noqa: UP006, UP035
# mypy: disable-error-code="no-untyped-def, type-arg"

from typing import Dict, List

from ._clients import client_for

__all__ = [
    "allocate_upload_directory",
    "approve_probation",
    "clone_version",
    "create_project",
    "refresh_latest",
    "refresh_usage",
    "reindex_version",
    "reject_probation",
    "remove_asset",
    "remove_project",
    "remove_version",
    "reroute_links",
    "set_permissions",
    "upload_directory",
    "validate_version",
]


def create_project(
    project: str, staging: str, url: str, owners: List | None = None, uploaders: List | None = None
):
    """Create a project (administrators only).

    Args:
        project: Name of the new project.
        staging: The staging directory.
        url: The service's REST API.
        owners: User names of the owners; the caller when ``None``.
        uploaders: Uploader entries (dictionaries with ``id`` and optionally ``asset``, ``version``,
            ``until``, ``trusted``); none when ``None``.

    Raises:
        InvalidRequestError: For an invalid name or uploader entry, or an existing project (HTTP 400).
        PermissionDeniedError: When the caller is not an administrator (HTTP 403).
    """
    client_for(url=url, staging=staging).create_project(project, owners=owners, uploaders=uploaders)


def allocate_upload_directory(staging: str, create: bool = True) -> str:
    """A fresh directory directly inside staging, to fill and then upload in place without a copy.

    Args:
        staging: The staging directory.
        create: Create the directory; otherwise only reserve a name nobody uses yet.
    """
    return str(client_for(staging=staging).allocate_upload_directory(create=create))


def upload_directory(
    project: str,
    asset: str,
    version: str,
    directory: str,
    staging: str,
    url: str,
    probation: bool = False,
    consume: bool | None = None,
    ignore_dot: bool = True,
    spoof: str | None = None,
    concurrent: int = 1,
):
    """Upload a directory as a new version of an asset.

    A directory directly inside ``staging`` is submitted as it is; any other is copied into a fresh staging
    directory first (symlinks kept, each copy checked) and that copy is removed afterwards.

    Args:
        project: An existing project.
        asset: A new or existing asset of the project.
        version: Name of the new version.
        directory: The directory to upload.
        staging: The staging directory.
        url: The service's REST API.
        probation: Upload a probational version.
        consume: Let the service move files out of the directory; by default only for the private copy.
        ignore_dot: Leave out dotfiles and dot-directories.
        spoof: Upload on behalf of this user (the service must allow the caller to).
        concurrent: Parallel file copies (threads) when staging a copy.

    Raises:
        GobblerError: The typed error for whatever the service refused.
    """
    target = client_for(url=url, staging=staging).project(project).asset(asset)
    target.upload(
        version,
        directory,
        probation=probation,
        consume=consume,
        ignore_dot=ignore_dot,
        spoof=spoof,
        concurrency=concurrent,
        check=False,  # pygobbler leaves an existing version to the service (HTTP 400)
    )


def remove_project(project: str, staging: str, url: str):
    """Delete a project and everything in it (administrators only); a missing project is not an error.

    Run :func:`reroute_links` first if other projects may link into it.

    Args:
        project: Project name.
        staging: The staging directory.
        url: The service's REST API.
    """
    client_for(url=url, staging=staging).project(project).remove()


def remove_asset(project: str, asset: str, staging: str, url: str, force: bool = False):
    """Delete an asset and all its versions (administrators only); a missing asset is not an error.

    Args:
        project: Project name.
        asset: Asset name.
        staging: The staging directory.
        url: The service's REST API.
        force: Delete even when a version's manifest cannot be read (usage is then left unchanged;
            :func:`refresh_usage` repairs it).
    """
    client_for(url=url, staging=staging).project(project).asset(asset).remove(force=force)


def remove_version(project: str, asset: str, version: str, staging: str, url: str, force: bool = False):
    """Delete one version (administrators only); a missing version is not an error.

    Args:
        project: Project name.
        asset: Asset name.
        version: Version name.
        staging: The staging directory.
        url: The service's REST API.
        force: Delete even when the manifest or summary cannot be read.
    """
    handle = client_for(url=url, staging=staging).project(project).asset(asset).version(version)
    handle.remove(force=force)


def clone_version(project: str, asset: str, version: str, destination: str, registry: str):
    """Fill ``destination`` with symlinks to every file of a version in the mounted registry.

    Uploading the clone (after adding or replacing files) creates a cheap new version whose unchanged files
    are links, not copies. Empty directories of the version become empty directories.

    Args:
        project: Project name.
        asset: Asset name.
        version: Version name.
        destination: Directory to create or fill.
        registry: The mounted registry directory.
    """
    client_for(registry=registry).project(project).asset(asset).version(version).clone(destination)


def reindex_version(project: str, asset: str, version: str, staging: str, url: str):
    """Regenerate a version's manifest and link files from its contents (administrators only).

    Args:
        project: Project name.
        asset: Asset name.
        version: Version name.
        staging: The staging directory.
        url: The service's REST API.
    """
    client_for(url=url, staging=staging).project(project).asset(asset).version(version).reindex()


def validate_version(project: str, asset: str, version: str, staging: str, url: str):
    """Check a version's files against its manifest and link files (administrators only).

    Args:
        project: Project name.
        asset: Asset name.
        version: Version name.
        staging: The staging directory.
        url: The service's REST API.

    Raises:
        ServiceError: Describing the first discrepancy (HTTP 500).
    """
    client_for(url=url, staging=staging).project(project).asset(asset).version(version).validate()


def refresh_latest(project: str, asset: str, staging: str, url: str) -> str | None:
    """Recompute an asset's latest version (administrators only).

    Args:
        project: Project name.
        asset: Asset name.
        staging: The staging directory.
        url: The service's REST API.

    Returns:
        The latest non-probational version, or ``None`` when there is none.
    """
    latest = client_for(url=url, staging=staging).project(project).asset(asset).refresh_latest()
    return None if latest is None else latest.name


def refresh_usage(project: str, staging: str, url: str) -> int:
    """Recompute a project's usage from its manifests (administrators only) and return it in bytes.

    Args:
        project: Project name.
        staging: The staging directory.
        url: The service's REST API.
    """
    return client_for(url=url, staging=staging).project(project).refresh_usage()


def approve_probation(
    project: str, asset: str, version: str, staging: str, url: str, spoof: str | None = None
):
    """Approve a probational version (project owners and administrators).

    Args:
        project: Project name.
        asset: Asset name.
        version: Version name.
        staging: The staging directory.
        url: The service's REST API.
        spoof: Act on behalf of this user (the service must allow the caller to).
    """
    handle = client_for(url=url, staging=staging).project(project).asset(asset).version(version)
    # pygobbler leaves every refusal to the service: the same errors, with its HTTP status.
    handle.approve(spoof=spoof, check=False)


def reject_probation(
    project: str,
    asset: str,
    version: str,
    staging: str,
    url: str,
    force: bool = False,
    spoof: str | None = None,
):
    """Reject, and so delete, a probational version (project owners and administrators).

    Args:
        project: Project name.
        asset: Asset name.
        version: Version name.
        staging: The staging directory.
        url: The service's REST API.
        force: Delete even when the manifest cannot be read (usage is then left unchanged).
        spoof: Act on behalf of this user (the service must allow the caller to).
    """
    handle = client_for(url=url, staging=staging).project(project).asset(asset).version(version)
    handle.reject(force=force, spoof=spoof, check=False)


def set_permissions(
    project: str,
    registry: str,
    staging: str,
    url: str,
    asset: str | None = None,
    owners: List | None = None,
    uploaders: List | None = None,
    global_write: bool | None = None,
    append: bool = True,
    spoof: str | None = None,
    dry_run: bool = False,
) -> Dict | None:
    """Change the owners, uploaders or global-write flag of a project, or the permissions of one asset.

    Args:
        project: Project name.
        registry: The registry directory (read for ``append``).
        staging: The staging directory.
        url: The service's REST API.
        asset: Change this asset's own permissions instead of the project's.
        owners: Owners to add (``append``) or the complete new list; unchanged when ``None``.
        uploaders: Uploader entries to add (``append``) or the complete new list; unchanged when ``None``.
        global_write: New global-write flag of the project; unchanged when ``None``, ignored for assets.
        append: Add to the stored lists (stored entries are resent exactly as stored) instead of replacing.
        spoof: Act on behalf of this user (the service must allow the caller to).
        dry_run: Send nothing; return what would be sent.

    Returns:
        ``None``, or with ``dry_run`` the fields that would be replaced (some of ``owners``, ``uploaders``
        and ``global_write``).
    """
    target = client_for(url=url, registry=registry, staging=staging).project(project)
    if asset is None:
        sent = target.set_permissions(
            owners, uploaders, global_write, append=append, dry_run=dry_run, spoof=spoof
        )
    else:
        sent = target.asset(asset).set_permissions(
            owners, uploaders, append=append, dry_run=dry_run, spoof=spoof
        )
    return sent if dry_run else None


def reroute_links(to_delete: List, staging: str, url: str, dry_run: bool = False) -> List:
    """Rewrite the links that depend on projects, assets or versions about to be deleted (administrators).

    Nothing is deleted: remove the targets afterwards with :func:`remove_project` and friends.

    Args:
        to_delete: Dictionaries with ``project``, and optionally ``asset`` and ``version``.
        staging: The staging directory.
        url: The service's REST API.
        dry_run: Only report what would change.

    Returns:
        One dictionary per changed link, as the service reports it: ``path`` (the link), ``copy`` (replaced
        by a copy rather than retargeted), ``source`` (the doomed file responsible) and ``usage`` (bytes
        added to the project). The order is unspecified.
    """
    changes = client_for(url=url, staging=staging).reroute_links(to_delete, dry_run=dry_run)
    return [change.model_dump(by_alias=True) for change in changes]
