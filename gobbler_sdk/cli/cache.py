"""``cache ls``, ``cache verify``, ``cache prune`` and ``cache rm``: the client's download cache."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import typer

from .app import Settings, app, command, settings_of, usage_error
from .output import human_size

__all__ = ["cache_app", "parse_size"]

cache_app = typer.Typer(help="Inspect, verify and prune the download cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")

_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``"500M"`` → 500,000,000; ``"1.5GiB"`` → 1,610,612,736; ``"42"`` → 42 bytes.

    Raises:
        typer.BadParameter: For anything else (a usage error).
    """
    match = _SIZE.fullmatch(text)
    if match is None:
        raise usage_error(f"{text!r} is not a size (examples: 42, 500M, 1.5GiB)")
    number, unit, binary = match.groups()
    unit = unit.lower()
    if binary and not unit:
        raise usage_error(f"{text!r} is not a size (examples: 42, 500M, 1.5GiB)")
    factor = 1024 ** "kmgt".index(unit) * 1024 if binary else _UNITS[unit]
    return int(float(number) * factor)


def _manager(settings: Settings) -> Any:
    """The client's cache manager."""
    return settings.client().cache  # type: ignore[attr-defined]


def _when(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value).astimezone().isoformat()
    return None if value is None else str(value)


def _scope(path: str | None) -> dict[str, str]:
    if not path:
        return {}
    return dict(zip(("project", "asset", "version"), path.strip("/").split("/"), strict=False))


@command("ls", on=cache_app)
def cache_ls(ctx: typer.Context) -> None:
    """Every cached version: files, bytes, whether complete, last access.

    JSON keys: total_size, total_files, versions (objects with project, asset, version, path, files, size,
    complete, last_access).
    """
    settings = settings_of(ctx)
    report = _manager(settings).scan()
    rows = [
        {
            "project": v.project,
            "asset": v.asset,
            "version": v.version,
            "path": str(v.path),
            "files": v.files,
            "size": v.size,
            "complete": v.complete,
            "last_access": _when(v.last_access),
        }
        for v in report.versions
    ]
    out = settings.output
    if out.json_mode:
        out.document({"total_size": report.total_size, "total_files": report.total_files, "versions": rows})
        return
    out.table(
        ["version", "files", "size", "complete", "last access"],
        [
            (
                f"{r['project']}/{r['asset']}/{r['version']}",
                r["files"],
                human_size(r["size"]),
                "yes" if r["complete"] else "partial",
                r["last_access"],
            )
            for r in rows
        ],
        title=f"{settings.client().cache_dir}: {report.total_files} files, {human_size(report.total_size)}",
        right=["files", "size"],
    )


@command("verify", on=cache_app)
def cache_verify(
    ctx: typer.Context,
    path: Annotated[str | None, typer.Argument(help="Only PROJECT[/ASSET[/VERSION]].")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Delete the corrupt files found.")] = False,
) -> None:
    """Hash cached files again against their manifests; corrupt files make the exit status 6.

    JSON keys: corrupt (objects with path, reason), deleted.
    """
    settings = settings_of(ctx)
    corrupt = _manager(settings).verify(delete=delete, **_scope(path))
    rows = [{"path": str(c.path), "reason": c.reason} for c in corrupt]
    out = settings.output
    if out.json_mode:
        out.document({"corrupt": rows, "deleted": delete})
    elif rows:
        out.table(["path", "reason"], [(r["path"], r["reason"]) for r in rows])
    else:
        out.note("every cached file matches its manifest")
    if rows:
        from . import exitcodes

        raise typer.Exit(exitcodes.INTEGRITY)


@command("prune", on=cache_app)
def cache_prune(
    ctx: typer.Context,
    path: Annotated[str | None, typer.Argument(help="Only PROJECT[/ASSET[/VERSION]].")] = None,
    older_than: Annotated[
        float | None,
        typer.Option("--older-than", help="Remove what was not used for this many days.", metavar="DAYS"),
    ] = None,
    max_size: Annotated[
        str | None,
        typer.Option(
            "--max-size",
            help="Remove the least recently used until the cache fits (500M, 2GiB).",
            metavar="SIZE",
        ),
    ] = None,
) -> None:
    """Remove old cached versions, or the least recently used ones until the cache fits a size.

    JSON keys: those of the client's prune report (removed versions, freed bytes, ...).
    """
    budget = parse_size(max_size) if max_size is not None else None
    settings = settings_of(ctx)
    report = _manager(settings).prune(older_than=older_than, max_size=budget, **_scope(path))
    document = _report_document(report)
    out = settings.output
    if out.json_mode:
        out.document(document)
    else:
        out.table(["field", "value"], [(k, v) for k, v in document.items()])


def _report_document(report: Any) -> dict[str, Any]:
    import dataclasses

    if dataclasses.is_dataclass(report) and not isinstance(report, type):
        data = dataclasses.asdict(report)
    elif hasattr(report, "model_dump"):
        data = report.model_dump(mode="json")
    else:
        data = dict(vars(report))
    return {
        key: str(value) if not isinstance(value, (int, float, str, bool, list, dict, type(None))) else value
        for key, value in data.items()
    }


@command("rm", on=cache_app)
def cache_rm(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="PROJECT[/ASSET[/VERSION[/PATH]]] to remove from the cache.")],
) -> None:
    """Remove cached files below a registry path (never the registry's own files).

    JSON keys: path, removed.
    """
    settings = settings_of(ctx)
    removed = _manager(settings).remove(path.strip("/"))
    out = settings.output
    if out.json_mode:
        out.document({"path": path.strip("/"), "removed": removed})
    else:
        out.note(f"removed {removed} from the cache")
