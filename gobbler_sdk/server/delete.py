"""``delete_project``, ``delete_asset`` and ``delete_version``.

Deleting something that does not exist succeeds without doing anything (and without a log entry). With
``force``, broken manifests or summaries no longer stop a deletion; the bookkeeping they feed is skipped.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from .accounting import adjust_usage, asset_usage, read_latest, recompute_latest, stored_version_usage
from .auth import require_name
from .documents import Summary, read_summary
from .errors import RequestError, stat_exists
from .gojson import Schema, Struct, go_struct_text
from .journal import write_log, write_version_log
from .request_files import Request
from .trees import delete_tree

if TYPE_CHECKING:
    from .service import Service

__all__ = ["delete_asset", "delete_project", "delete_version"]

_PROJECT_SCHEMA: Schema = Struct(
    {"project": "string"},
    go_type=go_struct_text(project="*string"),
)
_ASSET_SCHEMA: Schema = Struct(
    {"project": "string", "asset": "string", "force": "bool"},
    go_type=go_struct_text(project="*string", asset="*string", force="*bool"),
)
_VERSION_SCHEMA: Schema = Struct(
    {"project": "string", "asset": "string", "version": "string", "force": "bool"},
    go_type=go_struct_text(project="*string", asset="*string", version="*string", force="*bool"),
)


def _require_admin(request: Request) -> None:
    # The reference words the refusal the same way for all three deletions.
    request.require_admin("delete a project")


def delete_project(service: Service, request: Request) -> dict[str, Any]:
    """Delete a whole project; links into it from other projects are left dangling."""
    _require_admin(request)
    fields = request.parse(_PROJECT_SCHEMA)
    project = require_name(fields, "project", request.path)
    with ExitStack() as stack:
        service.enter_registry(stack, exclusive=True, context="failed to lock the registry")
        project_dir = service.path(project)
        if not stat_exists(project_dir, "project directory "):
            return {}
        delete_tree(project_dir)
        write_log(service.registry, {"type": "delete-project", "project": project})
    return {}


def delete_asset(service: Service, request: Request) -> dict[str, Any]:
    """Delete an asset with all its versions and take their usage off the project."""
    _require_admin(request)
    fields = request.parse(_ASSET_SCHEMA)
    project = require_name(fields, "project", request.path)
    asset = require_name(fields, "asset", request.path)
    with ExitStack() as stack:
        project_dir = service.enter_project(
            stack, project, exclusive=True, missing_ok=True, context="failed to lock the project directory"
        )
        if project_dir is None:
            return {}
        asset_dir = os.path.join(project_dir, asset)
        if not stat_exists(asset_dir, "asset directory "):
            return {}

        usage: int | None = None
        try:
            usage = asset_usage(asset_dir)
        except RequestError as exc:
            if not fields.get("force", False):
                raise exc.wrap(f"failed to compute usage for {asset_dir}") from None
        delete_tree(asset_dir)
        if usage is not None:
            try:
                adjust_usage(service.locks, project_dir, -usage)
            except RequestError as exc:
                raise exc.wrap(f"failed to update usage for {project_dir}") from None
        write_log(service.registry, {"type": "delete-asset", "project": project, "asset": asset})
    return {}


def delete_version(service: Service, request: Request) -> dict[str, Any]:
    """Delete one version; for a non-probational one, log it and recompute the asset's latest version."""
    _require_admin(request)
    fields = request.parse(_VERSION_SCHEMA)
    project = require_name(fields, "project", request.path)
    asset = require_name(fields, "asset", request.path)
    version = require_name(fields, "version", request.path)
    force: bool = fields.get("force", False)
    with ExitStack() as stack:
        project_dir = service.enter_project(stack, project, exclusive=False, missing_ok=True)
        if project_dir is None:
            return {}
        asset_dir = service.enter_asset(stack, project_dir, project, asset, missing_ok=True)
        if asset_dir is None:
            return {}
        version_dir = service.version_dir(asset_dir, project, asset, version, missing_ok=True)
        if version_dir is None:
            return {}

        usage: int | None = None
        try:
            usage = stored_version_usage(version_dir)
        except RequestError as exc:
            if not force:
                raise exc.wrap(f"failed to compute usage for {version_dir}") from None
        summary: Summary | None = None
        try:
            summary = read_summary(version_dir)
        except RequestError as exc:
            if not force:
                raise exc.wrap(f"failed to read summary for {version_dir}") from None

        delete_tree(version_dir)
        if usage is not None:
            adjust_usage(service.locks, project_dir, -usage)
        if summary is None or summary.get("on_probation") is True:
            return {}

        try:
            was_latest = read_latest(asset_dir) == version
        except RequestError as exc:
            raise exc.wrap(f"failed to read the latest version for {asset_dir}") from None
        write_version_log(service.registry, "delete-version", project, asset, version, was_latest)
        try:
            recompute_latest(asset_dir)
        except RequestError as exc:
            # The version is gone and logged already; force only spares the caller the error.
            if not force:
                raise exc.wrap(f"failed to update the latest version for {asset_dir}") from None
    return {}
