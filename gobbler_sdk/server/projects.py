"""``create_project``: a new, empty project with its permissions.

Existence is checked with ``stat`` (symlinks followed, like the reference), so any existing entry, even
the registry root itself for the project name ``.``, makes the request a 400 ``already exists``.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import paths
from .auth import require_name, sanitize_uploaders
from .documents import QUOTA, REQUEST_PERMISSIONS_SPEC, USAGE, write_permissions
from .errors import RequestError, go_quote, os_error_text
from .gojson import Schema, Struct, go_struct_text
from .request_files import Request

if TYPE_CHECKING:
    from .service import Service

__all__ = ["create_project"]

_SCHEMA: Schema = Struct(
    {"project": "string", "permissions": REQUEST_PERMISSIONS_SPEC},
    go_type=go_struct_text(project="*string", permissions="*main.unsafePermissionsMetadata"),
)


def create_project(service: Service, request: Request) -> dict[str, Any]:
    """Create ``<registry>/P`` with its permissions, quota and usage files."""
    caller = request.require_admin("create a project")
    fields = request.parse(_SCHEMA)
    project = require_name(fields, "project", request.path, style="create")

    with ExitStack() as stack:
        service.enter_registry(stack, exclusive=True)
        project_dir = paths.join(service.registry, project)
        try:
            os.stat(project_dir)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            detail = os_error_text("stat", project_dir, exc)
            raise RequestError(
                500, f"failed to stat project directory {go_quote(project_dir)}; {detail}"
            ) from exc
        else:
            raise RequestError(400, f"project directory {go_quote(project_dir)} already exists")
        try:
            os.makedirs(project_dir, mode=0o755)
        except OSError as exc:
            detail = os_error_text("mkdir", project_dir, exc)
            raise RequestError(500, f"failed to create the project directory; {detail}") from exc

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

        # Written verbatim (not atomically, not pretty-printed) with mode 0644 minus the umask.
        initial = {
            QUOTA: f'{{ "baseline": 1000000000, "growth_rate": 1000000000, "year": {datetime.now().year} }}',
            USAGE: '{ "total": 0 }',
        }
        for name, text in initial.items():
            path = os.path.join(project_dir, name)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
            except OSError as exc:
                raise RequestError(
                    500, f"failed to write {name}; {os_error_text('open', path, exc)}"
                ) from exc
    return {}
