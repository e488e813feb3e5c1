"""``set_permissions``: replace project- or asset-level permissions.

Each of ``owners``, ``uploaders`` and ``global_write`` in the request replaces the stored value wholesale when
present; absent or ``null`` keeps what is stored. The stored file is re-serialised from its parsed form, so
lists missing from it come back as ``null`` (the reference's quirk, kept on purpose).
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from .auth import is_owner, require_name, sanitize_uploaders
from .documents import PERMISSIONS, REQUEST_PERMISSIONS_SPEC, Permissions, read_permissions, write_permissions
from .errors import RequestError, stat_exists
from .goerrors import go_quote, os_error_text
from .gojson import Schema, Struct, go_struct_text
from .locks import LOCK_NEWDIR
from .request_files import Request

if TYPE_CHECKING:
    from .service import Service

__all__ = ["resolve_user", "set_permissions"]

_SCHEMA: Schema = Struct(
    {"project": "string", "asset": "string", "permissions": REQUEST_PERMISSIONS_SPEC, "spoof": "string"},
    go_type=go_struct_text(
        project="*string", asset="*string", permissions="*main.unsafePermissionsMetadata", spoof="*string"
    ),
)


def resolve_user(request: Request, fields: dict[str, Any]) -> str:
    """Return the effective user of a spoof-capable action (4.5).

    Raises:
        RequestError: 403 when the file's owner may not act as the requested ``spoof``.
    """
    try:
        return request.effective_user(request.owner(), fields.get("spoof"))
    except RequestError as exc:
        raise exc.wrap("failed to identify user") from None


def set_permissions(service: Service, request: Request) -> dict[str, Any]:
    """Replace the owners, uploaders and (project level only) ``global_write`` of a project or asset."""
    fields = request.parse(_SCHEMA)
    project = require_name(fields, "project", request.path, style="missing_or_invalid")
    asset = require_name(fields, "asset", request.path) if "asset" in fields else None
    if "permissions" not in fields:
        raise RequestError(400, f"expected a 'permissions' object in {go_quote(request.path)}")
    requested: Permissions = fields["permissions"]
    user = resolve_user(request, fields)

    with ExitStack() as stack:
        if asset is None:
            project_dir = service.enter_project(
                stack, project, exclusive=True, context="failed to lock the project directory"
            )
            assert project_dir is not None
            _set_project_level(request, project, project_dir, user, requested)
        else:
            project_dir = service.enter_project(
                stack, project, exclusive=False, context="failed to lock the project directory"
            )
            assert project_dir is not None
            _set_asset_level(service, stack, request, project, project_dir, asset, user, requested)
    return {}


def _read(directory: str, what: str) -> Permissions:
    try:
        return read_permissions(directory)
    except RequestError as exc:
        raise exc.wrap(f"failed to read permissions for {what}") from None


def _sanitized(requested: Permissions, *, strip_asset: bool) -> list[dict[str, Any]]:
    try:
        uploaders = sanitize_uploaders(requested["uploaders"])
    except ValueError as exc:
        raise RequestError(400, f"invalid 'permissions.uploaders' in request; {exc}") from exc
    if strip_asset:
        for entry in uploaders:
            entry.pop("asset", None)
    return uploaders


def _set_project_level(
    request: Request, project: str, project_dir: str, user: str, requested: Permissions
) -> None:
    current = _read(project_dir, f'"{project}"')
    if not (request.is_admin(user) or is_owner(user, current)):
        raise RequestError(403, f'user "{user}" is not authorized to modify permissions for "{project}"')
    if "owners" in requested:
        current["owners"] = requested["owners"]
    if "uploaders" in requested:
        current["uploaders"] = _sanitized(requested, strip_asset=False)
    if "global_write" in requested:
        current["global_write"] = requested["global_write"]
    write_permissions(project_dir, current)


def _set_asset_level(
    service: Service,
    stack: ExitStack,
    request: Request,
    project: str,
    project_dir: str,
    asset: str,
    user: str,
    requested: Permissions,
) -> None:
    project_permissions = _read(project_dir, f'"{project}"')
    stack.enter_context(service.locks.hold(project_dir, exclusive=True, name=LOCK_NEWDIR))
    denied = RequestError(
        403, f'user "{user}" is not authorized to modify permissions for asset "{asset}" in "{project}"'
    )
    privileged = request.is_admin(user) or is_owner(user, project_permissions)

    asset_dir = os.path.join(project_dir, asset)
    current: Permissions
    if stat_exists(asset_dir, "asset directory "):
        # The reference words a failure to lock the asset as one on the project.
        try:
            stack.enter_context(service.locks.hold(asset_dir, exclusive=True))
        except RequestError as exc:
            raise exc.wrap(f"failed to lock the project directory {go_quote(project_dir)}") from None
        if os.path.lexists(os.path.join(asset_dir, PERMISSIONS)):
            current = _read(asset_dir, f'asset "{asset}" in "{project}"')
        else:
            current = {"owners": [], "uploaders": []}
        if not (privileged or is_owner(user, current)):
            raise denied
    else:
        if not privileged:
            raise denied
        try:
            os.mkdir(asset_dir, 0o755)
        except (OSError, ValueError) as exc:
            detail = os_error_text("mkdir", asset_dir, exc)
            raise RequestError(
                500, f"failed to create new asset directory {go_quote(asset_dir)}; {detail}"
            ) from exc
        # No lock on the new asset, as in the reference (which leaves no ..LOCK behind): the project's
        # NEWDIR lock, held exclusively, keeps every other request out of it.
        current = {"owners": [], "uploaders": []}

    # global_write means nothing for an asset; a stored value is kept but never replaced.
    if "owners" in requested:
        current["owners"] = requested["owners"]
    if "uploaders" in requested:
        # A failure here leaves a directory created above in place, as the reference does.
        current["uploaders"] = _sanitized(requested, strip_asset=True)
    write_permissions(asset_dir, current)
