"""``cache ls``, ``cache verify``, ``cache prune`` and ``cache rm``: the client's download cache."""

from __future__ import annotations

from typing import Annotated

import typer

from .app import Settings, app, command, settings_of, usage_error
from .output import human_size, timestamp
from .targets import holder, resolve_latest

__all__ = ["cache_app", "parse_size"]

cache_app = typer.Typer(help="Inspect, verify and prune the download cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


def parse_size(text: str) -> int:
    """``"500M"`` → 500,000,000; ``"1.5GiB"`` → 1,610,612,736; ``"42"`` → 42 bytes.

    The parser of ``CacheManager.prune(max_size=...)`` too, so both take the same sizes.

    Raises:
        UsageError: For anything else.
    """
    # Imported here: the CLI's start-up (help, completion) loads none of the client's dependencies.
    from .. import CacheManager, GobblerError

    try:
        return CacheManager.parse_size(text)
    except GobblerError as exc:
        raise usage_error(str(exc).removeprefix("max_size: ")) from None


def _scope(settings: Settings, path: str | None) -> dict[str, str]:
    """The project/asset/version keywords of the cache API for ``path`` (names checked as everywhere)."""
    if not path:
        return {}
    path = resolve_latest(settings.client(), path)
    holder(settings.client(), path)
    return dict(zip(("project", "asset", "version"), path.strip("/").split("/"), strict=False))


@command("ls", on=cache_app)
def cache_ls(ctx: typer.Context) -> None:
    """Every cached version: files, bytes, whether complete, last access.

    JSON keys: total_size, total_files, versions (objects with project, asset, version, path, files, size,
    complete, last_access).
    """
    settings = settings_of(ctx)
    report = settings.client().cache.scan()
    rows = [
        {
            "project": v.project,
            "asset": v.asset,
            "version": v.version,
            "path": str(v.path),
            "files": v.files,
            "size": v.size,
            "complete": v.complete,
            "last_access": timestamp(v.last_access),
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
            (v.key, v.files, human_size(v.size), "yes" if v.complete else "partial", timestamp(v.last_access))
            for v in report.versions
        ],
        title=f"{settings.client().cache_dir}: {report.total_files} files, {human_size(report.total_size)}",
        right=["files", "size"],
    )


@command("verify", on=cache_app)
def cache_verify(
    ctx: typer.Context,
    path: Annotated[
        str | None, typer.Argument(help="Only PROJECT[/ASSET[/VERSION]].", metavar="PATH")
    ] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Delete the corrupt files found.")] = False,
) -> None:
    """Hash cached files again against their manifests; corrupt files left in place make the exit status 6.

    JSON keys: corrupt (objects with path, reason), deleted.
    """
    settings = settings_of(ctx)
    corrupt = settings.client().cache.verify(delete=delete, **_scope(settings, path))
    rows = [{"path": str(c.path), "reason": c.reason} for c in corrupt]
    out = settings.output
    if out.json_mode:
        out.document({"corrupt": rows, "deleted": delete})
    elif rows:
        out.table(["path", "reason"], [(r["path"], r["reason"]) for r in rows])
    else:
        out.note("every cached file matches its manifest")
    if rows and not delete:
        from . import exitcodes

        raise typer.Exit(exitcodes.INTEGRITY)


@command("prune", on=cache_app)
def cache_prune(
    ctx: typer.Context,
    path: Annotated[
        str | None, typer.Argument(help="Only PROJECT[/ASSET[/VERSION]].", metavar="PATH")
    ] = None,
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

    Temporary files left by killed downloads (older than a day) are always removed. With neither
    --older-than nor --max-size nothing else is, and a message says what to pass. JSON keys: removed (the
    versions removed, as PROJECT/ASSET/VERSION), files, freed (bytes), temporary_files.
    """
    budget = parse_size(max_size) if max_size is not None else None
    settings = settings_of(ctx)
    report = settings.client().cache.prune(older_than=older_than, max_size=budget, **_scope(settings, path))
    removed = [v.key for v in report.versions]
    document = {
        "removed": removed,
        "files": report.files,
        "freed": report.freed,
        "temporary_files": report.temporary_files,
    }
    out = settings.output
    if out.json_mode:
        out.document(document)
    else:
        for key in removed:
            out.line(key)
        out.note(
            f"removed {len(report.versions)} versions and {report.temporary_files} temporary files, "
            f"{human_size(report.freed)} freed"
        )
    if older_than is None and max_size is None:
        # Said even with --json (on standard error): a bare "cache prune" looks like it should free space.
        out.note(
            "cached versions are removed only with --older-than DAYS (unused for that long) or "
            "--max-size SIZE (least recently used first, until the cache fits; e.g. 20GiB)"
        )


@command("rm", on=cache_app)
def cache_rm(
    ctx: typer.Context,
    path: Annotated[
        str, typer.Argument(help="PROJECT[/ASSET[/VERSION[/PATH]]] to remove from the cache.", metavar="PATH")
    ],
) -> None:
    """Remove cached files below a registry path (never the registry's own files).

    JSON keys: path, freed (bytes).
    """
    settings = settings_of(ctx)
    freed = settings.client().cache.remove(resolve_latest(settings.client(), path).strip("/"))
    out = settings.output
    if out.json_mode:
        out.document({"path": path.strip("/"), "freed": freed})
    else:
        out.note(f"{human_size(freed)} freed")
