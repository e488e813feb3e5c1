"""``reindex_version`` and ``validate_version``: rebuild or check a version.

Both walk the version directory itself (the upload walk); reindex rewrites ``..manifest`` and ``..links`` from
what is on disk, validate compares what is on disk with them and with ``..summary``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from .._rfc3339 import RFC3339Error, check_rfc3339
from .accounting import read_latest
from .auth import require_name
from .documents import LINKS, read_manifest, read_summary, write_manifest
from .errors import RequestError
from .goerrors import go_quote, time_parse_error_text
from .gojson import Schema, Struct
from .journal import write_version_log
from .linkresolve import VersionRef
from .request_files import Request
from .validation import check_linkfiles, check_manifest
from .walk import Mode, Walk, group_links, write_link_files

if TYPE_CHECKING:
    from .service import Service

__all__ = ["reindex_version", "validate_version"]

_REINDEX_SCHEMA: Schema = Struct(
    {"project": "string", "asset": "string", "version": "string"}, "reindexRequest"
)
_VALIDATE_SCHEMA: Schema = Struct(
    {"project": "string", "asset": "string", "version": "string"}, "validateRequest"
)


@contextmanager
def _locked_version(service: Service, request: Request, what: str) -> Iterator[tuple[VersionRef, str]]:
    """Check fields, then the administrator, then lock the asset and find the version (6.11 order).

    Yields:
        The version and its directory, with the asset locked exclusively.
    """
    request.read()
    caller = request.owner()
    fields = request.parse(_REINDEX_SCHEMA if what == "reindex" else _VALIDATE_SCHEMA)
    project = require_name(fields, "project", request.path, style="expected")
    asset = require_name(fields, "asset", request.path, style="expected")
    version = require_name(fields, "version", request.path, style="expected")
    if not request.is_admin(caller):
        raise RequestError(403, f"user '{caller}' is not authorized to {what} '{project}'")
    with ExitStack() as stack:
        project_dir = service.enter_project(
            stack, project, exclusive=False, context="failed to acquire the lock on"
        )
        assert project_dir is not None
        asset_dir = service.enter_asset(
            stack, project_dir, project, asset, context="failed to acquire the lock on"
        )
        assert asset_dir is not None
        version_dir = service.version_dir(asset_dir, project, asset, version)
        assert version_dir is not None
        yield VersionRef(project, asset, version), version_dir


def reindex_version(service: Service, request: Request) -> dict[str, Any]:
    """Regenerate ``..manifest`` and ``..links`` of a version; log it unless probational."""
    with _locked_version(service, request, "reindex") as (current, version_dir):
        try:
            result = Walk(service, version_dir, current, Mode.REINDEX).run()
            try:
                write_manifest(version_dir, result.manifest)
            except RequestError as exc:
                raise exc.wrap(f"failed to save manifest for {go_quote(version_dir)}") from exc
            groups = group_links(result.manifest)
            try:
                write_link_files(version_dir, groups)
            except RequestError as exc:
                raise exc.wrap("failed to create linkfiles") from exc
        except RequestError as exc:
            raise RequestError(500, f"failed to reindex project; {exc.reason}") from exc
        for directory in result.linkfiles:
            if directory not in groups:
                _remove(os.path.join(version_dir, directory, LINKS))

        # Read only now, so a missing summary fails the request after the new files were written.
        summary = _read_summary(version_dir)
        if summary.get("on_probation") is not True:
            latest = read_latest(os.path.dirname(version_dir))
            write_version_log(
                service.registry,
                "reindex-version",
                current.project,
                current.asset,
                current.version,
                latest == current.version,
            )
    return {}


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise RequestError(500, f"failed to remove the stale link file {path!r}; {exc}") from exc


def validate_version(service: Service, request: Request) -> dict[str, Any]:
    """Check that a version's files match its manifest, ``..links`` files and summary."""
    with _locked_version(service, request, "validate") as (current, version_dir):
        try:
            result = Walk(service, version_dir, current, Mode.VALIDATE).run()
            try:
                stored = read_manifest(version_dir)
            except RequestError as exc:
                raise exc.wrap(f"failed to read the manifest at {go_quote(version_dir)}") from exc
            check_manifest(result.manifest, stored, version_dir)
            check_linkfiles(group_links(result.manifest), result.linkfiles, version_dir)
        except RequestError as exc:
            raise RequestError(500, f"failed to validate project; {exc.reason}") from exc

        summary = _read_summary(version_dir)
        where = f"the summary file at {go_quote(version_dir)}"
        if not summary.get("upload_user_id"):
            raise RequestError(500, f"invalid 'upload_user_id' in {where}")
        for key in ("upload_start", "upload_finish"):
            text = str(summary.get(key, ""))
            try:
                check_rfc3339(text)
            except RFC3339Error as exc:
                raise RequestError(
                    500, f"could not parse '{key}' from {where}; {time_parse_error_text(text, exc)}"
                ) from exc
    return {}


def _read_summary(version_dir: str) -> dict[str, Any]:
    try:
        return read_summary(version_dir)
    except RequestError as exc:
        raise exc.wrap(f"failed to read the summary file at {go_quote(version_dir)}") from exc
