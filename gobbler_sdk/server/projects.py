"""``create_project`` (PROTOCOL.md 6.1)."""

from __future__ import annotations

import os
from contextlib import ExitStack
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .auth import require_name, sanitize_uploaders
from .documents import PERMISSIONS_SPEC, QUOTA, USAGE, write_permissions
from .errors import RequestError
from .gojson import Schema
from .request_files import Request

if TYPE_CHECKING:
    from .service import Service

__all__ = ["create_project"]

_SCHEMA: Schema = {"project": "string", "permissions": PERMISSIONS_SPEC}


def create_project(service: Service, request: Request) -> dict[str, Any]:
    """Create ``<registry>/P`` with its permissions, quota and usage files."""
    caller = request.require_admin("create a project")
    fields = request.parse(_SCHEMA)
    project = require_name(fields, "project", style="expected")

    with ExitStack() as stack:
        service.enter_registry(stack, exclusive=True)
        project_dir = service.path(project)
        if os.path.lexists(project_dir):
            raise RequestError(400, f'project directory "{project_dir}" already exists')
        try:
            os.makedirs(project_dir, mode=0o755)
        except OSError as exc:
            raise RequestError(500, f"failed to create the project directory; {exc}") from exc

        requested = fields.get("permissions", {})
        permissions: dict[str, Any] = {"owners": requested.get("owners", [caller])}
        try:
            permissions["uploaders"] = sanitize_uploaders(requested.get("uploaders", []))
        except ValueError as exc:
            # The reference leaves the new, empty project directory behind here.
            raise RequestError(400, f"invalid 'permissions.uploaders' in the request details; {exc}") from exc
        if "global_write" in requested:
            permissions["global_write"] = requested["global_write"]
        write_permissions(project_dir, permissions)

        # Written verbatim and with the umask applied, unlike every later rewrite.
        initial = {
            QUOTA: f'{{ "baseline": 1000000000, "growth_rate": 1000000000, "year": {datetime.now().year} }}',
            USAGE: '{ "total": 0 }',
        }
        for name, text in initial.items():
            try:
                with open(os.path.join(project_dir, name), "w", encoding="utf-8") as handle:
                    handle.write(text)
            except OSError as exc:
                raise RequestError(500, f"failed to write {name}; {exc}") from exc
    return {}
