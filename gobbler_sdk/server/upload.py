"""``upload``: publish a source directory from staging as a new version."""

from __future__ import annotations

import contextlib
import os
import stat
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from .._rfc3339 import now_rfc3339
from . import paths
from .accounting import adjust_usage, version_usage
from .auth import authorize_upload, require_name
from .documents import (
    LATEST,
    PERMISSIONS,
    Permissions,
    read_permissions,
    write_manifest,
    write_permissions,
    write_summary,
)
from .errors import RequestError, stat_exists
from .goerrors import go_quote, os_error_text
from .gojson import Schema, Struct
from .journal import new_log, version_entry
from .linkresolve import VersionRef
from .locks import LOCK_NEWDIR
from .request_files import Request, user_name
from .trees import remove_tree
from .walk import Mode, Walk, group_links, write_link_files

if TYPE_CHECKING:
    from .service import Service

__all__ = ["upload"]

_SCHEMA: Schema = Struct(
    {
        "source": "string",
        "project": "string",
        "asset": "string",
        "version": "string",
        "on_probation": "bool",
        "ignore_dot": "bool",
        "consume": "bool",
        "spoof": "string",
    },
    "uploadRequest",
)


def upload(service: Service, request: Request) -> dict[str, Any]:
    """Check the request, secure the asset, create the version and transfer the source into it."""
    started = now_rfc3339()
    fields = request.parse(_SCHEMA)
    spoof = fields.get("spoof")
    try:
        user = request.effective_user(request.owner(), spoof)
    except RequestError as exc:
        raise exc.wrap(f"failed to find owner of {go_quote(request.path)}") from None
    source_dir, source_uid = _source_directory(service, fields, request.path)
    try:
        source_user = request.effective_user(user_name(source_uid), spoof)
    except RequestError as exc:
        raise exc.wrap(f"failed to find owner of {go_quote(source_dir)}") from None
    if source_user != user:
        raise RequestError(
            403,
            "requesting user must be the same as the owner of the 'source' directory "
            f"({source_user} vs {user})",
        )
    project = require_name(fields, "project", request.path, style="expected")
    asset = require_name(fields, "asset", request.path, style="expected")
    version = require_name(fields, "version", request.path, style="expected")

    with ExitStack() as stack:
        project_dir = service.enter_project(stack, project, exclusive=False)
        assert project_dir is not None
        with service.locks.hold(project_dir, exclusive=True, name=LOCK_NEWDIR):
            trusted = _secure_asset(service, stack, request, project_dir, project, asset, version, user)
        asset_dir = os.path.join(project_dir, asset)
        version_dir = os.path.join(asset_dir, version)
        if os.path.lexists(version_dir) or stat_exists(version_dir, "version directory "):
            raise RequestError(400, f"version {go_quote(version)} already exists in {go_quote(asset_dir)}")
        try:
            os.mkdir(version_dir, 0o755)
        except OSError as exc:
            detail = os_error_text("mkdir", version_dir, exc)
            raise RequestError(
                500, f"failed to create a new version directory at {go_quote(version_dir)}; {detail}"
            ) from exc

        probational = fields.get("on_probation", False) or not trusted
        try:
            manifest = _transfer(service, source_dir, VersionRef(project, asset, version), fields)
            summary: dict[str, Any] = {
                "upload_user_id": user,
                "upload_start": started,
                "upload_finish": now_rfc3339(),
            }
            if probational:
                summary["on_probation"] = True
            write_summary(version_dir, summary)
            # The shared files change together or not at all (a deliberate improvement over the
            # reference): a write that fails for want of space or inodes, even the journal entry's,
            # leaves ..usage, ..latest and the journal as they were, and the version is removed.
            along: list[tuple[str, object]] = []
            if not probational:
                along.append((os.path.join(asset_dir, LATEST), {"version": version}))
                along.append(
                    new_log(service.registry, version_entry("add-version", project, asset, version, True))
                )
            adjust_usage(service.locks, project_dir, version_usage(manifest), along=along)
        except BaseException:
            with contextlib.suppress(OSError):
                remove_tree(version_dir)
            raise
    return {}


def _source_directory(service: Service, fields: dict[str, Any], request_path: str) -> tuple[str, int]:
    """Steps 3-4: ``source`` must name a real directory directly inside staging.

    Returns:
        Its path and its owner's UID.
    """
    source = fields.get("source")
    if source is None:
        # The reference wraps a nil error here, printed as %!w(<nil>); kept for byte equality.
        raise RequestError(400, f"expected a 'source' property in {go_quote(request_path)}; %!w(<nil>)")
    if source == "" or "/" in source:
        raise RequestError(400, f"expected 'source' to be a name, not a path, in {go_quote(request_path)}")
    path = paths.join(service.config.staging, source)
    try:
        info = os.lstat(path)
    except (OSError, ValueError) as exc:
        detail = os_error_text("lstat", path, exc)
        raise RequestError(
            400, f"failed to stat {go_quote(source)} in the staging directory; {detail}"
        ) from exc
    if not stat.S_ISDIR(info.st_mode):
        raise RequestError(400, f"expected {go_quote(source)} to be a directory")
    return path, info.st_uid


def _secure_asset(
    service: Service,
    stack: ExitStack,
    request: Request,
    project_dir: str,
    project: str,
    asset: str,
    version: str,
    user: str,
) -> bool:
    """Steps 8-9, under the project's NEWDIR lock: authorize, create the asset if needed, lock it.

    Returns:
        Whether the upload is trusted (untrusted uploads are forced onto probation).
    """
    try:
        permissions = read_permissions(project_dir)
    except RequestError as exc:
        raise exc.wrap(f"failed to read permissions for {go_quote(project)}") from None
    asset_dir = os.path.join(project_dir, asset)
    if stat_exists(asset_dir, "asset directory "):
        service.hold(stack, asset_dir, "failed to lock asset directory", exclusive=True)
        merged = _merge_asset_permissions(permissions, asset_dir, asset)
        return _authorize(request, user, merged, project, asset, version)

    global_write = permissions.get("global_write") is True
    trusted = True if global_write else _authorize(request, user, permissions, project, asset, version)
    try:
        os.mkdir(asset_dir, 0o755)
    except OSError as exc:
        detail = os_error_text("mkdir", asset_dir, exc)
        raise RequestError(
            500, f"failed to create a new asset directory inside {go_quote(asset_dir)}; {detail}"
        ) from exc
    if global_write:
        write_permissions(asset_dir, {"owners": [user], "uploaders": None})
    service.hold(stack, asset_dir, "failed to lock asset directory", exclusive=True)
    return trusted


def _merge_asset_permissions(permissions: Permissions, asset_dir: str, asset: str) -> Permissions:
    """Project owners/uploaders followed by the asset's, the latter always matching ``asset`` (5.4)."""
    if not os.path.lexists(os.path.join(asset_dir, PERMISSIONS)):
        return permissions
    try:
        extra = read_permissions(asset_dir, name_file=True)
    except RequestError as exc:
        project = os.path.basename(os.path.dirname(asset_dir))
        raise exc.wrap(
            f"failed to read permissions for asset {go_quote(asset)} in {go_quote(project)}"
        ) from None
    return {
        "owners": [*(permissions.get("owners") or []), *(extra.get("owners") or [])],
        "uploaders": [
            *(permissions.get("uploaders") or []),
            *({**entry, "asset": asset} for entry in extra.get("uploaders") or []),
        ],
    }


def _authorize(
    request: Request, user: str, permissions: Permissions, project: str, asset: str, version: str
) -> bool:
    allowed, trusted = authorize_upload(user, request.is_admin(user), permissions, asset, version)
    if not allowed:
        raise RequestError(403, f"user '{user}' is not authorized to upload to '{project}'")
    return trusted


def _transfer(
    service: Service, source_dir: str, current: VersionRef, fields: dict[str, Any]
) -> dict[str, Any]:
    """Step 12: walk the source into the version directory and write ``..manifest`` and ``..links``."""
    walk = Walk(
        service,
        source_dir,
        current,
        Mode.TRANSFER,
        ignore_dot=fields.get("ignore_dot", False),
        consume=fields.get("consume", False),
    )
    try:
        manifest = walk.run().manifest
    except RequestError as exc:
        # A 400 (a FIFO or other special file in the source) stays a 400: the caller's input is bad.
        raise RequestError(
            400 if exc.status == 400 else 500,
            f"failed to transfer files from {go_quote(source_dir)}; {exc.reason}",
        ) from exc
    version_dir = current.directory(service.config.registry)
    write_manifest(version_dir, manifest)
    write_link_files(version_dir, group_links(manifest))
    return manifest
