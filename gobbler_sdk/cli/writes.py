"""Commands that change the registry: create, upload, permissions set, approve, reject, rm, and so on.

The others are ``reindex``, ``validate``, ``reroute`` and ``clone``.

Every argument is checked (names, paths, uploader specifications, the upload directory) before the first
request file is written, so a mistake leaves staging and the registry untouched.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import NotFoundError
from . import exitcodes
from .app import command, existing_directory, settings_of, usage_error
from .compare import show_upload_plan
from .completion import registry_paths
from .progress import bar_class
from .reads import VersionArg, manifest_sizes, permissions_app, permissions_document, show_permissions
from .targets import depth, holder, project_or_asset, version_only

if TYPE_CHECKING:
    from .. import Version

__all__ = ["parse_uploader"]

Owners = Annotated[
    list[str] | None,
    typer.Option("--owner", help="An owner (repeat the option for several).", metavar="USER"),
]
Uploaders = Annotated[
    list[str] | None,
    typer.Option(
        "--uploader",
        help="An uploader: USER, optionally followed by :trusted, :until=TIME (RFC 3339), :asset=A, "
        ":version=V (repeat the option for several).",
        metavar="SPEC",
    ),
]
Spoof = Annotated[
    str | None, typer.Option("--spoof", help="Act on behalf of this user (needs the service's permission).")
]

_SPEC_KEYS = ("until", "asset", "version")


def parse_uploader(spec: str) -> dict[str, Any]:
    """``alice:trusted:until=2030-01-01T00:00:00Z:asset=a`` → an uploader entry.

    The time may contain colons: a piece that is neither ``trusted`` nor ``key=...`` continues the value
    before it.

    Raises:
        UsageError: For an empty user or an unknown field.
    """
    user, *pieces = spec.split(":")
    if not user:
        raise usage_error(f"uploader {spec!r} names no user")
    entry: dict[str, Any] = {"id": user}
    current: str | None = None
    for piece in pieces:
        key, equals, value = piece.partition("=")
        if piece == "trusted":
            entry["trusted"] = True
            current = None
        elif equals and key in _SPEC_KEYS:
            entry[key] = value
            current = key
        elif current == "until":
            entry["until"] += ":" + piece
        else:
            raise usage_error(
                f"uploader {spec!r}: unknown field {piece!r} (expected trusted, until=, asset=, version=)"
            )
    return entry


def _uploaders(specs: list[str] | None) -> list[dict[str, Any]] | None:
    return None if not specs else [parse_uploader(spec) for spec in specs]


# ---------------------------------------------------------------------------------------- projects


@command("create")
def create(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="Name of the new project.", metavar="PROJECT")],
    owner: Owners = None,
    uploader: Uploaders = None,
    global_write: Annotated[
        bool, typer.Option("--global-write", help="Let anyone create new assets in the project.")
    ] = False,
) -> None:
    """Create a project (administrators only); the owners default to you.

    JSON keys: those of ``permissions show`` for the new project.
    """
    settings = settings_of(ctx)
    client = settings.client()
    uploaders = _uploaders(uploader)
    handle = client.project(project)
    handle.create(owners=owner or None, uploaders=uploaders, global_write=True if global_write else None)
    out = settings.output
    document = permissions_document(handle, handle.permissions())
    if out.json_mode:
        out.document(document)
    else:
        out.note(f"created project {handle.name}")


@command("set", on=permissions_app)
def permissions_set(
    ctx: typer.Context,
    path: Annotated[
        str,
        typer.Argument(help="PROJECT or PROJECT/ASSET.", autocompletion=registry_paths(2), metavar="PATH"),
    ],
    owner: Owners = None,
    uploader: Uploaders = None,
    global_write: Annotated[
        bool | None,
        typer.Option(
            "--global-write/--no-global-write",
            help="Turn global write on or off (projects only).",
            show_default=False,
        ),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Replace the owner and uploader lists instead of adding to them."),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be sent.")] = False,
    spoof: Spoof = None,
) -> None:
    """Add owners or uploaders to a project or asset (--replace: replace them), or change global write.

    Project owners and administrators only.

    JSON keys: project, asset (or null), dry_run, sent (the permission fields sent to the service, or that
    would be sent with --dry-run).
    """
    settings = settings_of(ctx)
    handle = project_or_asset(settings.client(), path)
    uploaders = _uploaders(uploader)
    asset_level = depth(path) == 2
    if asset_level and global_write is not None:
        raise usage_error("--global-write applies to projects, not assets")
    if owner is None and uploaders is None and global_write is None:
        raise usage_error("nothing to change: give --owner, --uploader or --global-write")
    from .. import Project

    changes: dict[str, Any] = {"append": not replace, "dry_run": dry_run, "spoof": spoof}
    if isinstance(handle, Project):
        sent = handle.set_permissions(owner, uploaders, global_write, **changes)
    else:
        sent = handle.set_permissions(owner, uploaders, **changes)
    out = settings.output
    parts = handle.key.split("/")
    if out.json_mode:
        out.document(
            {
                "project": parts[0],
                "asset": parts[1] if asset_level else None,
                "dry_run": dry_run,
                "sent": sent,
            }
        )
    elif dry_run:
        for key, value in sent.items():
            out.line(f"{key}: {value}")
    else:
        show_permissions(out, permissions_document(handle, handle.permissions()))


# ---------------------------------------------------------------------------------------- versions


@command("upload")
def upload(
    ctx: typer.Context,
    path: Annotated[
        str,
        typer.Argument(
            help="PROJECT/ASSET/VERSION to create.", autocompletion=registry_paths(2), metavar="VERSION"
        ),
    ],
    directory: Annotated[Path, typer.Argument(help="The directory to upload.", metavar="DIR")],
    probation: Annotated[bool, typer.Option("--probation", help="Upload as a probational version.")] = False,
    consume: Annotated[
        bool | None,
        typer.Option(
            "--consume/--no-consume",
            help="Let the service move files out of the staged copy (default: yes for a copy, no for a "
            "directory already in staging).",
            show_default=False,
        ),
    ] = None,
    ignore_dot: Annotated[
        bool,
        typer.Option(
            "--ignore-dot",
            help="Leave out dotfiles and dot-directories (by default they are uploaded, like every file).",
        ),
    ] = False,
    include_dot: Annotated[
        bool, typer.Option("--include-dot", hidden=True, help="The default; kept for older scripts.")
    ] = False,
    follow_symlinks: Annotated[
        bool,
        typer.Option(
            "--follow-symlinks", help="Upload the bytes symlinks point to instead of refusing them."
        ),
    ] = False,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, help="Parallel file copies while staging.")
    ] = None,
    spoof: Spoof = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be stored, linked, skipped; upload nothing.")
    ] = False,
) -> None:
    """Upload a directory as a new version (a progress bar on a terminal).

    Every file is uploaded, dotfiles included, unless --ignore-dot. JSON keys: version, probation, files,
    size (bytes of all its files, links included), stored_size (bytes of the files that are not links);
    with --dry-run, the plan (see gobbler_sdk.UploadPlan).
    """
    settings = settings_of(ctx)
    if ignore_dot and include_dot:
        raise usage_error("--ignore-dot and --include-dot contradict each other")
    version = version_only(settings.client(), path)
    existing_directory(directory)
    if dry_run:
        show_upload_plan(settings, version, directory, ignore_dot=ignore_dot, follow_symlinks=follow_symlinks)
        return
    version.asset.upload(
        version.name,
        directory,
        probation=probation,
        consume=consume,
        ignore_dot=ignore_dot,
        spoof=spoof,
        concurrency=concurrency,
        progress=settings.progress,
        tqdm_class=bar_class(settings),
        follow_symlinks=follow_symlinks,
    )
    out = settings.output
    if out.json_mode:
        manifest = version.manifest()
        size, stored = manifest_sizes(manifest)
        out.document(
            {
                "version": version.key,
                "probation": probation or version.summary().on_probation,
                "files": len(manifest.files()),
                "size": size,
                "stored_size": stored,
            }
        )
    else:
        out.note(f"uploaded {version.key}")


def _done(ctx: typer.Context, version: Version, key: str, message: str) -> None:
    out = settings_of(ctx).output
    if out.json_mode:
        out.document({"version": version.key, key: True})
    else:
        out.note(f"{message} {version.key}")


@command("approve")
def approve(ctx: typer.Context, path: VersionArg, spoof: Spoof = None) -> None:
    """Approve a probational version (project owners and administrators).

    JSON keys: version, approved.
    """
    version = version_only(settings_of(ctx).client(), path)
    version.approve(spoof=spoof)
    _done(ctx, version, "approved", "approved")


@command("reject")
def reject(
    ctx: typer.Context,
    path: VersionArg,
    force: Annotated[bool, typer.Option("--force", help="Reject even if its files cannot be read.")] = False,
    spoof: Spoof = None,
) -> None:
    """Reject (delete) a probational version (project owners and administrators).

    JSON keys: version, rejected.
    """
    version = version_only(settings_of(ctx).client(), path)
    version.reject(force=force, spoof=spoof)
    _done(ctx, version, "rejected", "rejected")


@command("reindex")
def reindex(ctx: typer.Context, path: VersionArg) -> None:
    """Regenerate a version's manifest and link files from its contents (administrators only).

    JSON keys: version, reindexed.
    """
    version = version_only(settings_of(ctx).client(), path)
    version.reindex()
    _done(ctx, version, "reindexed", "reindexed")


@command("validate")
def validate(ctx: typer.Context, path: VersionArg) -> None:
    """Check a version's files against its manifest (administrators only); a discrepancy is an error.

    JSON keys: version, valid.
    """
    version = version_only(settings_of(ctx).client(), path)
    version.validate()
    _done(ctx, version, "valid", "valid:")


@command("rm")
def rm(
    ctx: typer.Context,
    path: Annotated[
        str,
        typer.Argument(
            help="PROJECT, PROJECT/ASSET or PROJECT/ASSET/VERSION.",
            autocompletion=registry_paths(3),
            metavar="PATH",
        ),
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Delete an asset or version even if its files are broken.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    missing_ok: Annotated[
        bool,
        typer.Option("--missing-ok", help="Succeed when there is nothing to remove (exit status 0, not 3)."),
    ] = False,
) -> None:
    """Delete a project, asset or version (administrators only).

    Asks for confirmation when standard input is a terminal, unless --yes; without a terminal, refuses to
    run without --yes (exit status 2). Something that does not exist is an error (exit status 3) unless
    --missing-ok. JSON keys: removed, kind, existed.
    """
    settings = settings_of(ctx)
    handle = holder(settings.client(), path)
    kind = ("project", "asset", "version")[depth(path) - 1]
    if force and kind == "project":
        raise usage_error("--force applies to assets and versions, not projects")
    out = settings.output
    if not handle.exists():
        if not missing_ok:
            raise NotFoundError(f"{kind} {handle.key} does not exist")
        if out.json_mode:
            out.document({"removed": handle.key, "kind": kind, "existed": False})
        else:
            out.note(f"{kind} {handle.key} does not exist; nothing removed")
        return
    if not yes:
        if not sys.stdin.isatty():
            raise usage_error(
                f"refusing to remove {kind} {handle.key} without --yes (standard input is not a terminal)"
            )
        what = f"{kind} {handle.key}" + (" and everything in it" if kind != "version" else "")
        if not out.confirm(f"Remove {what}?"):
            out.error("not removed")
            raise typer.Exit(exitcodes.FAILURE)
    from .. import Project

    if isinstance(handle, Project):
        handle.remove()
    else:
        handle.remove(force=force)
    if out.json_mode:
        out.document({"removed": handle.key, "kind": kind, "existed": True})
    else:
        out.note(f"removed {kind} {handle.key}")


@command("reroute")
def reroute(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Projects, assets or versions about to be deleted.",
            autocompletion=registry_paths(3),
            metavar="PATH...",
        ),
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what would change.")] = False,
) -> None:
    """Rewrite links elsewhere that point into what is about to be deleted (administrators only).

    JSON keys: dry_run, changes (objects with copy, path, source, usage).
    """
    settings = settings_of(ctx)
    client = settings.client()
    targets = [holder(client, path) for path in paths]
    changes = client.reroute_links(targets, dry_run=dry_run)
    rows = [{"copy": c.is_copy, "path": c.path, "source": c.source, "usage": c.usage} for c in changes]
    out = settings.output
    if out.json_mode:
        out.document({"dry_run": dry_run, "changes": rows})
    elif rows:
        out.table(
            ["path", "becomes", "source", "usage"],
            [(r["path"], "copy" if r["copy"] else "link", r["source"], r["usage"]) for r in rows],
            right=["usage"],
        )
    else:
        out.note("no links to change")


@command("clone")
def clone(
    ctx: typer.Context,
    path: VersionArg,
    destination: Annotated[
        Path, typer.Argument(help="A new (or empty) directory to fill with links.", metavar="DEST")
    ],
) -> None:
    """Fill DEST with symlinks to a version's files in the mounted registry (a cheap base to upload).

    JSON keys: version, destination, files.
    """
    settings = settings_of(ctx)
    version = version_only(settings.client(), path)
    if destination.is_symlink() or (
        destination.exists() and (not destination.is_dir() or any(destination.iterdir()))
    ):
        raise usage_error(f"{destination} exists and is not an empty directory")
    made = version.clone(destination)
    out = settings.output
    files = len(version.manifest().files())
    if out.json_mode:
        out.document({"version": version.key, "destination": str(made.resolve()), "files": files})
    else:
        out.line(str(made))
