"""``approve_probation`` and ``reject_probation``.

Only administrators and project owners decide on probational versions; asset owners and the uploader do
not. :func:`reject_version` is shared with the maintenance purge, which rejects expired versions the same way.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from . import paths
from .accounting import adjust_usage, read_latest, stored_version_usage, write_latest
from .auth import is_owner, require_name
from .documents import SUMMARY, Summary, finish_time, read_permissions, read_summary, write_summary
from .errors import RequestError
from .goerrors import go_quote
from .gojson import Schema, Struct, go_struct_text
from .journal import write_version_log
from .locks import LockManager
from .permissions import resolve_user
from .request_files import Request
from .trees import delete_tree

if TYPE_CHECKING:
    from .service import Service

__all__ = ["approve_probation", "reject_probation", "reject_version"]

_SCHEMA: Schema = Struct(
    {"project": "string", "asset": "string", "version": "string", "force": "bool", "spoof": "string"},
    go_type=go_struct_text(
        project="*string", asset="*string", version="*string", force="*bool", spoof="*string"
    ),
)


def approve_probation(service: Service, request: Request) -> dict[str, Any]:
    """Take a version off probation, make it latest if it finished last, and log ``add-version``."""
    fields = request.parse(_SCHEMA)
    with ExitStack() as stack:
        project, asset, version, asset_dir, version_dir, summary = _enter_probational(
            service, stack, request, fields
        )
        approved = {key: value for key, value in summary.items() if key != "on_probation"}
        write_summary(version_dir, approved)

        # From here on a failure leaves the version approved (the reference's half-applied quirk).
        try:
            latest = read_latest(asset_dir)
        except RequestError as exc:
            raise exc.wrap(f"failed to read the latest version for {asset_dir}") from None
        if latest is None:
            becomes_latest = True
        else:
            # Joined and cleaned like Go's filepath.Join: an empty name leaves no trailing slash.
            current_dir = paths.join(asset_dir, latest)
            try:
                current_summary = read_summary(current_dir)
            except RequestError as exc:
                raise exc.wrap(
                    f"failed to read the latest version summary for {go_quote(current_dir)}"
                ) from None
            try:
                current_finish = finish_time(current_summary)
            except RequestError as exc:
                raise exc.wrap(
                    f"failed to read the latest version's upload finish time from {go_quote(current_dir)}"
                ) from None
            try:
                finish = finish_time(approved)
            except RequestError as exc:
                where = go_quote(os.path.join(version_dir, SUMMARY))
                raise exc.wrap(f"failed to parse the upload finish time at {where}") from None
            becomes_latest = finish > current_finish
        if becomes_latest:
            write_latest(asset_dir, version)
        write_version_log(service.registry, "add-version", project, asset, version, becomes_latest)
    return {}


def reject_probation(service: Service, request: Request) -> dict[str, Any]:
    """Delete a probational version and subtract its usage (``force`` tolerates a broken manifest)."""
    fields = request.parse(_SCHEMA)
    with ExitStack() as stack:
        _, _, _, _, version_dir, _ = _enter_probational(service, stack, request, fields)
        project_dir = os.path.dirname(os.path.dirname(version_dir))
        reject_version(service.locks, project_dir, version_dir, force=fields.get("force", False))
    return {}


def reject_version(locks: LockManager, project_dir: str, version_dir: str, *, force: bool) -> None:
    """Delete a version directory and take its usage off the project's ``..usage``.

    The caller holds the locks of a rejection (asset exclusive, project shared); the usage lock is taken
    here. No log is written and ``..latest`` is left alone.

    Args:
        locks: The service's lock manager.
        project_dir: Project holding the version.
        version_dir: Version to delete.
        force: Delete even when the manifest is unreadable, skipping the usage update.

    Raises:
        RequestError: 500 when the manifest is unreadable (without ``force``), or deletion fails.
    """
    usage: int | None = None
    try:
        usage = stored_version_usage(version_dir)
    except RequestError as exc:
        if not force:
            raise exc.wrap(f"failed to compute usage for {go_quote(version_dir)}") from None
    delete_tree(version_dir)
    if usage is not None:
        adjust_usage(locks, project_dir, -usage)


def _enter_probational(
    service: Service, stack: ExitStack, request: Request, fields: dict[str, Any]
) -> tuple[str, str, str, str, str, Summary]:
    """Run the checks shared by approval and rejection and lock the asset; return what they found."""
    project = require_name(fields, "project", request.path)
    asset = require_name(fields, "asset", request.path)
    version = require_name(fields, "version", request.path)
    user = resolve_user(request, fields)

    project_dir = service.enter_project(stack, project, exclusive=False)
    assert project_dir is not None
    try:
        permissions = read_permissions(project_dir)
    except RequestError as exc:
        raise exc.wrap(f'failed to read permissions for "{project_dir}"') from None
    if not (request.is_admin(user) or is_owner(user, permissions)):
        raise RequestError(
            403, f'user "{user}" is not authorized to modify probation status in "{project_dir}"'
        )

    asset_dir = service.enter_asset(stack, project_dir, project, asset)
    assert asset_dir is not None
    version_dir = service.version_dir(asset_dir, project, asset, version)
    assert version_dir is not None
    try:
        summary = read_summary(version_dir)
    except RequestError as exc:
        raise exc.wrap(f"failed to read the version summary at {go_quote(version_dir)}") from None
    if summary.get("on_probation") is not True:
        raise RequestError(500, f'version directory at "{version_dir}" is not on probation')
    return project, asset, version, asset_dir, version_dir, summary
