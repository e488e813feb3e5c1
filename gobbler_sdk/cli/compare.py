"""Commands comparing versions (``diff``, ``verify``, ``changes``) and the plan of ``upload --dry-run``.

``diff`` and ``verify`` exit as ``diff`` does: 0 when the two sides are the same, 1 when they differ, and
the status of the error's family otherwise (:mod:`gobbler_sdk.cli.exitcodes`). The module is
self-contained: it registers its commands on the application through :func:`~gobbler_sdk.cli.app.command`
and uses only the public API.
"""

from __future__ import annotations

import json
import re
import sys
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import InvalidRequestError, NotFoundError
from .app import Settings, command, settings_of, usage_error
from .output import Output, human_size

if TYPE_CHECKING:
    from .. import ChangeEvent, GobblerClient, UploadPlan, Version, VersionDiff

__all__ = ["DIFFERENT", "parse_since", "show_upload_plan"]

#: Exit status of ``diff`` and ``verify`` when the two sides differ (as ``diff`` exits).
DIFFERENT = 1

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``--since``: an RFC 3339 time, an ISO date or date-time (UTC unless it has an offset), or an age.

    ``2026-12-01``, ``2026-12-01T08:00:00+01:00`` and ``36h`` (also ``s``, ``m``, ``d``, ``w``) are read.

    Raises:
        UsageError: When ``text`` is none of these.
    """
    text = text.strip()
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return (now or datetime.now(timezone.utc)) - timedelta(**{_UNITS[unit]: amount})
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise usage_error(
            f"--since {text!r}: expected a date (2026-12-01), a time (2026-12-01T08:00:00Z) or an age (36h)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _version_or_latest(client: GobblerClient, path: str) -> Version:
    """``PROJECT/ASSET/VERSION``, or the latest version of ``PROJECT/ASSET``."""
    parts = path.strip("/").split("/")
    if len(parts) == 2:
        asset = client.project(parts[0]).asset(parts[1])
        latest = asset.latest()
        if latest is None:
            if not asset.exists():
                raise NotFoundError(f"asset {asset.key} does not exist")
            raise NotFoundError(f"asset {asset.key} has no latest version (none approved yet)")
        return latest
    version, inside = client.unpack_path(path)
    if inside is not None:
        raise InvalidRequestError(
            f"{path!r} names a path inside a version; expected PROJECT/ASSET/VERSION or PROJECT/ASSET"
        )
    return version


def _counts(diff: VersionDiff) -> str:
    parts = [
        f"{len(diff.added)} added",
        f"{len(diff.removed)} removed",
        f"{len(diff.changed)} changed",
        f"{len(diff.renamed)} renamed",
        f"{len(diff.unchanged)} unchanged",
    ]
    if diff.links_changed:
        parts.append(f"{len(diff.links_changed)} stored elsewhere")
    if diff.directories_added or diff.directories_removed:
        parts.append(
            f"empty directories {len(diff.directories_added)} added, {len(diff.directories_removed)} removed"
        )
    return ", ".join(parts) + f"; +{human_size(diff.bytes_added)} -{human_size(diff.bytes_removed)}"


def _diff_rows(diff: VersionDiff) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    rows += [("added", path, "") for path in diff.added]
    rows += [("removed", path, "") for path in diff.removed]
    rows += [("changed", path, "") for path in diff.changed]
    rows += [("renamed", new, f"from {old}") for old, new in diff.renamed]
    rows += [("stored elsewhere", c.path, f"{c.old} -> {c.new}") for c in diff.links_changed]
    rows += [("directory added", path, "") for path in diff.directories_added]
    rows += [("directory removed", path, "") for path in diff.directories_removed]
    return rows


def _show_tables(out: Output, diff: VersionDiff) -> None:
    rows = []
    for table in diff.tables:
        if table.error is not None:
            rows.append((table.path, table.format, "", "", "", "", table.error))
            continue
        retyped = ", ".join(f"{name}: {old} -> {new}" for name, old, new in table.columns_retyped)
        rows.append(
            (
                table.path,
                table.format,
                f"{table.rows_old} -> {table.rows_new}",
                ", ".join(table.columns_added),
                ", ".join(table.columns_removed),
                retyped,
                "",
            )
        )
    if rows:
        out.table(
            ["table", "format", "rows", "columns added", "columns removed", "retyped", "error"],
            rows,
            title="Tables changed in both versions",
        )


@command("diff")
def diff(
    ctx: typer.Context,
    old: Annotated[
        str, typer.Argument(help="PROJECT/ASSET/VERSION (or PROJECT/ASSET: its latest).", metavar="OLD")
    ],
    new: Annotated[
        str, typer.Argument(help="PROJECT/ASSET/VERSION (or PROJECT/ASSET: its latest).", metavar="NEW")
    ],
    stat: Annotated[bool, typer.Option("--stat", help="Only the counts, not the paths.")] = False,
    tables: Annotated[
        bool,
        typer.Option("--tables", help="Schema changes and row counts of changed CSV, TSV and Parquet files."),
    ] = False,
) -> None:
    """Compare two versions from their manifests: exit 0 when they hold the same files, 1 when not.

    JSON keys: old, new, identical, added, removed, changed, renamed, unchanged (a count), links_changed,
    directories_added, directories_removed, bytes_added, bytes_removed, tables (with --stat: the counts).
    """
    settings = settings_of(ctx)
    client = settings.client()
    old_version = _version_or_latest(client, old)
    new_version = _version_or_latest(client, new)
    result = new_version.diff(old_version, tables=tables)
    out = settings.output
    if out.json_mode:
        document = result.to_json()
        if stat:
            document = {"old": result.old, "new": result.new, "identical": not result, **result.stat()}
        out.document(document)
    elif not result and not result.links_changed:
        out.line(f"{result.old} and {result.new} hold the same files ({len(result.unchanged)})")
    else:
        out.line(f"{result.old} -> {result.new}: {_counts(result)}")
        if not stat:
            out.table(["change", "path", "detail"], _diff_rows(result))
            _show_tables(out, result)
    if result:
        raise typer.Exit(DIFFERENT)


@command("verify")
def verify(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="PROJECT/ASSET/VERSION to compare with.", metavar="VERSION")],
    directory: Annotated[Path, typer.Argument(help="The local copy.", metavar="DIR")],
    follow_symlinks: Annotated[
        bool,
        typer.Option("--follow-symlinks", help="Compare what symlinks point to (else they are changed)."),
    ] = False,
) -> None:
    """Check that a local directory holds exactly a version's files: exit 0 when intact, 1 when not.

    JSON keys: version, directory, ok, missing, extra, changed, checked.
    """
    settings = settings_of(ctx)
    version = _version_or_latest(settings.client(), path)
    if not directory.is_dir():
        raise usage_error(f"{directory} is not a directory")
    report = version.verify(directory, follow_symlinks=follow_symlinks)
    out = settings.output
    if out.json_mode:
        out.document(report.to_json())
    elif report.ok:
        out.line(f"{directory} holds exactly {version.key} ({report.checked} files checked)")
    else:
        out.line(
            f"{directory} differs from {version.key}: {len(report.missing)} missing, {len(report.extra)} "
            f"extra, {len(report.changed)} changed ({report.checked} files checked)"
        )
        rows = [("missing", p) for p in report.missing]
        rows += [("extra", p) for p in report.extra]
        rows += [("changed", p) for p in report.changed]
        out.table(["status", "path"], rows)
    if not report.ok:
        raise typer.Exit(DIFFERENT)


def _event_row(event: Any) -> tuple[str, str, str, str]:
    latest = "" if event.latest is None else ("latest" if event.latest else "")
    return (event.to_json()["time"], event.type, event.key, latest)


@command("changes")
def changes(
    ctx: typer.Context,
    since: Annotated[
        str,
        typer.Option(
            "--since",
            help="From this time on: 2026-12-01, 2026-12-01T08:00:00Z (UTC without an offset), or an age "
            "such as 36h or 2d.",
        ),
    ] = "7d",
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep polling for new changes until interrupted.")
    ] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between polls with --follow.")
    ] = 5.0,
    path: Annotated[
        str | None,
        typer.Option(
            "--path", help="Only changes of this PROJECT or PROJECT/ASSET (and its deletion).", metavar="PATH"
        ),
    ] = None,
) -> None:
    """List the registry's changes (versions added, deleted, reindexed; assets and projects deleted).

    The service keeps its journal for 7 days; an earlier --since is answered with what is left and a note
    that the list may be incomplete. JSON keys: since, complete, kept_since, events (each with type,
    project, asset, version, latest, time); with --follow, one JSON object per event and line instead.
    """
    from ..changes import IncompleteHistoryWarning, follow_changes

    settings = settings_of(ctx)
    client = settings.client()
    start = parse_since(since)
    wanted = _event_filter(client, path)
    out = settings.output
    # Said once on standard error below instead of as a Python warning.
    warnings.simplefilter("ignore", IncompleteHistoryWarning)
    feed = client.changes(start)
    if not feed.complete:
        out.note(
            "gobbler-sdk: note: the journal keeps 7 days; changes before "
            f"{feed.kept_since.isoformat(timespec='seconds')} may be missing"
        )
    if follow:
        _follow(out, filter(wanted, follow_changes(client, start, interval=interval)))
        return
    events = [event for event in feed if wanted(event)]
    if out.json_mode:
        out.document(
            {
                "since": start.isoformat(),
                "complete": feed.complete,
                "kept_since": feed.kept_since.isoformat(),
                "events": [event.to_json() for event in events],
            }
        )
    elif events:
        out.table(["time", "type", "path", "latest"], [_event_row(event) for event in events])
    else:
        out.note(f"no changes since {start.isoformat(timespec='seconds')}")


def _event_filter(client: GobblerClient, path: str | None) -> Callable[[ChangeEvent], bool]:
    """The test of ``--path``: a project's events, or an asset's and its project's deletion."""
    if path is None:
        return lambda event: True
    parts = path.strip("/").split("/")
    if len(parts) == 1:
        project = client.project(parts[0]).name  # the client's name checks
        return lambda event: event.project == project
    if len(parts) == 2:
        asset = client.project(parts[0]).asset(parts[1])
        return lambda event: event.project == parts[0] and event.asset in (asset.name, None)
    raise InvalidRequestError(f"--path {path!r}: expected PROJECT or PROJECT/ASSET")


def _follow(out: Output, stream: Any) -> None:
    """Print each event as it comes (one JSON object per line in JSON mode), flushed at once."""
    for event in stream:
        if out.json_mode:
            sys.stdout.write(json.dumps(event.to_json(), ensure_ascii=False) + "\n")
        else:
            sys.stdout.write("  ".join(cell for cell in _event_row(event) if cell) + "\n")
        sys.stdout.flush()


def show_upload_plan(
    settings: Settings, version: Version, directory: Path, *, ignore_dot: bool, follow_symlinks: bool
) -> None:
    """``upload --dry-run``: print what the upload would store, link and skip (nothing is written)."""
    began = time.perf_counter()
    plan: UploadPlan = version.asset.plan_upload(
        version.name, directory, ignore_dot=ignore_dot, follow_symlinks=follow_symlinks
    )
    out = settings.output
    if out.json_mode:
        out.document(plan.to_json())
        return
    against = f" (deduplicated against {plan.latest})" if plan.latest else ""
    out.line(
        f"dry run: {plan.version} would store {len(plan.transferred)} files "
        f"({human_size(plan.stored_bytes)}), link {len(plan.linked)} "
        f"({human_size(plan.linked_bytes)}){against}, keep {len(plan.local_links)} local links, "
        f"record {len(plan.empty_directories)} empty directories, skip {len(plan.skipped)}"
    )
    rows: list[tuple[str, str, str, str]] = []
    rows += [("store", p, human_size(plan.sizes.get(p)), "") for p in plan.transferred]
    rows += [("link", p, human_size(plan.sizes.get(p)), target) for p, target in plan.linked.items()]
    rows += [("local link", p, "", target) for p, target in plan.local_links.items()]
    rows += [("empty directory", p, "", "") for p in plan.empty_directories]
    rows += [("skip", p, "", "") for p in plan.skipped]
    out.table(["action", "path", "size", "target"], rows, right=["size"])
    out.note(f"planned in {time.perf_counter() - began:.2f} s; nothing was copied or submitted")
