"""``refresh_latest`` and ``refresh_usage`` : recompute derived registry files.

Both are for administrators only, checked before the request is even parsed.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from .accounting import project_usage, recompute_latest
from .auth import require_name
from .documents import USAGE, write_json
from .errors import RequestError
from .goerrors import go_quote
from .gojson import Schema, Struct, go_struct_text
from .request_files import Request

if TYPE_CHECKING:
    from .service import Service

__all__ = ["refresh_latest", "refresh_usage"]

_LATEST_SCHEMA: Schema = Struct(
    {"project": "string", "asset": "string"},
    go_type=go_struct_text(project="*string", asset="*string"),
)
_USAGE_SCHEMA: Schema = Struct(
    {"project": "string"},
    go_type=go_struct_text(project="*string"),
)


def _require_admin(request: Request) -> None:
    # The reference reuses the refresh_latest wording for refresh_usage too.
    request.require_admin(f'refresh the latest version ("{request.path}")')


def refresh_latest(service: Service, request: Request) -> dict[str, Any]:
    """Recompute ``P/A/..latest``; answer the new latest version under ``version`` when there is one."""
    _require_admin(request)
    fields = request.parse(_LATEST_SCHEMA)
    project = require_name(fields, "project", request.path)
    asset = require_name(fields, "asset", request.path)
    with ExitStack() as stack:
        project_dir = service.enter_project(stack, project, exclusive=False)
        assert project_dir is not None
        asset_dir = service.enter_asset(stack, project_dir, project, asset)
        assert asset_dir is not None
        latest = recompute_latest(asset_dir)
    return {} if latest is None else {"version": latest}


def refresh_usage(service: Service, request: Request) -> dict[str, Any]:
    """Recompute ``P/..usage`` from every version's manifest and answer the new ``total``."""
    _require_admin(request)
    fields = request.parse(_USAGE_SCHEMA)
    project = require_name(fields, "project", request.path)
    with ExitStack() as stack:
        project_dir = service.enter_project(
            stack, project, exclusive=True, context="failed to lock the project directory"
        )
        assert project_dir is not None
        try:
            total = project_usage(project_dir)
        except RequestError as exc:
            raise exc.wrap(f'failed to compute usage for "{project}"') from None
        try:
            write_json(os.path.join(project_dir, USAGE), {"total": total})
        except RequestError as exc:
            raise exc.wrap(f"failed to write new usage for {go_quote(project)}") from None
    return {"total": total}
