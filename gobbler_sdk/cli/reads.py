"""Reading commands: info, ls, cat, manifest, summary, latest, usage and permissions.

Each writes a table or lines for people, or one JSON document with ``--json`` (keys in its help).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import InvalidRequestError, NotFoundError
from .app import app, command, settings_of, usage_error
from .completion import registry_paths
from .output import human_size, timestamp
from .targets import asset_only, depth, project_or_asset, version_only, version_path

if TYPE_CHECKING:
    from .. import Asset, GobblerClient, Manifest, Permissions, Project, Summary, Version
    from .output import Output

__all__ = [
    "DefaultShowGroup",
    "VersionArg",
    "manifest_sizes",
    "permissions_app",
    "permissions_document",
    "show_permissions",
    "summary_document",
]

# The PROJECT/ASSET/VERSION argument of every command that acts on one version.
VersionArg = Annotated[
    str, typer.Argument(help="PROJECT/ASSET/VERSION.", autocompletion=registry_paths(3), metavar="VERSION")
]


def manifest_sizes(manifest: Manifest) -> tuple[int, int]:
    """A version's ``(size, stored_size)``: the bytes of all its files, and of those it stores itself.

    A version's files include links to identical files of other versions (deduplicated uploads): they count
    in its size, not in the bytes it stores (which are what its project's usage adds up).
    """
    return manifest.total_size, manifest.stored_size


# -------------------------------------------------------------------------------------------- info


@command("info")
def info(ctx: typer.Context) -> None:
    """Where the service keeps staging and registry, the transport reads would use, the cache.

    JSON keys: url, staging, registry, transport ("local" or "remote"), cache, offline, sdk_version.
    Offline, what only the service could tell is null.
    """
    from .. import GobblerError, __version__

    settings = settings_of(ctx)
    client = settings.client()

    def known(read: Callable[[], object]) -> str | None:
        # Offline, what only the service could say stays unknown (null) instead of failing the command.
        try:
            return str(read())
        except GobblerError:
            if not client.offline:
                raise
            return None

    document = {
        "url": known(lambda: client.url),
        "staging": known(lambda: client.staging),
        "registry": known(lambda: client.registry),
        "transport": known(lambda: client.transport.kind),
        "cache": str(client.cache_dir),
        "offline": client.offline,
        "sdk_version": __version__,
    }
    out = settings.output
    if out.json_mode:
        out.document(document)
    else:
        out.table(["setting", "value"], [(k, v) for k, v in document.items()])


# ---------------------------------------------------------------------------------------------- ls


def _version_row(version: Version, latest: str | None, long: bool) -> dict[str, Any]:
    summary = version.summary()
    row: dict[str, Any] = {
        "kind": "version",
        "name": version.name,
        "path": version.key,
        "latest": version.name == latest,
        "probation": summary.on_probation,
    }
    if long:
        manifest = version.manifest()
        size, stored = manifest_sizes(manifest)
        row.update(
            upload_user_id=summary.upload_user_id,
            upload_finish=timestamp(summary.upload_finish),
            files=len(manifest.files()),
            size=size,
            stored_size=stored,
        )
    return row


def _asset_rows(asset: Asset, long: bool, recursive: bool) -> list[dict[str, Any]]:
    latest = asset.latest()
    name = latest.name if latest is not None else None
    return [_version_row(v, name, long) for v in asset.versions()]


def _project_rows(project: Project, long: bool, recursive: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for asset in project.assets():
        row: dict[str, Any] = {"kind": "asset", "name": asset.name, "path": asset.key}
        if long:
            latest = asset.latest()
            row["latest"] = latest.name if latest is not None else None
        rows.append(row)
        if recursive:
            rows += _asset_rows(asset, long, recursive)
    return rows


def _registry_rows(client: GobblerClient, long: bool, recursive: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for project in client.projects():
        row: dict[str, Any] = {"kind": "project", "name": project.name, "path": project.key}
        if long:
            row["usage"] = project.usage()
        rows.append(row)
        if recursive:
            rows += _project_rows(project, long, recursive)
    return rows


def _file_rows(version: Version, inside: str | None, long: bool, recursive: bool) -> list[dict[str, Any]]:
    manifest = version.manifest()
    if inside is not None and inside in manifest and not manifest[inside].is_directory:
        selected = [inside]  # one file
        start = inside.rpartition("/")[0]
        start = start + "/" if start else ""
    else:
        start = inside.rstrip("/") + "/" if inside else ""
        selected = [path for path in manifest if path.startswith(start)]
        if inside and not selected:
            raise NotFoundError(f"no file or directory {inside!r} in {version.key}")
    rows: list[dict[str, Any]] = []
    directories: set[str] = set()
    for path in sorted(selected):
        relative = path[len(start) :]
        head, slash, _ = relative.partition("/")
        entry = manifest[path]
        if slash and not recursive:
            if head not in directories:
                directories.add(head)
                rows.append({"kind": "directory", "name": head + "/", "path": f"{version.key}/{start}{head}"})
            continue
        directory = entry.is_directory
        row: dict[str, Any] = {
            "kind": "directory" if directory else "file",
            "name": relative + ("/" if directory else ""),
            "path": f"{version.key}/{path}",
        }
        if long and not directory:
            row.update(
                size=entry.size,
                md5sum=entry.md5sum,
                link=entry.link.registry_path if entry.link is not None else None,
            )
        rows.append(row)
    return rows


def _show_rows(out: Output, rows: list[dict[str, Any]], long: bool, recursive: bool) -> None:
    def label(row: dict[str, Any]) -> str:
        text: str = (
            row["path"] if recursive and row["kind"] in ("project", "asset", "version") else row["name"]
        )
        if row["kind"] in ("project", "asset"):
            text += "/"
        marks = [mark for mark in ("latest", "probation") if row["kind"] == "version" and row.get(mark)]
        return text + (f" ({', '.join(marks)})" if marks else "")

    if not long:
        for row in rows:
            out.line(label(row))
        return
    kinds = {row["kind"] for row in rows}
    if kinds <= {"file", "directory"}:
        out.table(
            ["name", "size", "md5sum", "link"],
            [(label(r), human_size(r.get("size")), r.get("md5sum"), r.get("link")) for r in rows],
            right=["size"],
        )
    elif kinds == {"project"}:
        out.table(["project", "usage"], [(label(r), human_size(r["usage"])) for r in rows], right=["usage"])
    elif kinds == {"asset"}:
        out.table(["asset", "latest"], [(label(r), r["latest"]) for r in rows])
    else:
        out.table(
            ["name", "uploaded by", "uploaded", "files", "size", "stored"],
            [
                (
                    label(r),
                    r.get("upload_user_id"),
                    r.get("upload_finish"),
                    r.get("files"),
                    human_size(r.get("size")),
                    human_size(r.get("stored_size")),
                )
                for r in rows
            ],
            right=["files", "size", "stored"],
        )


@command("ls")
def ls(
    ctx: typer.Context,
    path: Annotated[
        str,
        typer.Argument(
            help="Nothing (projects), PROJECT (assets), PROJECT/ASSET (versions), or a version or a "
            "directory inside one (files).",
            autocompletion=registry_paths(4),
            metavar="PATH",
        ),
    ] = "",
    long: Annotated[
        bool,
        typer.Option(
            "--long", "-l", help="Details: usage, latest version, uploader and time, sizes, MD5s, links."
        ),
    ] = False,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Down to versions; inside a version, every file.")
    ] = False,
) -> None:
    """List projects, assets, versions (latest and probational ones marked) or the files of a version.

    A version's size counts all its files, links to identical files of other versions included; stored
    is what it holds itself (what its project's usage adds up). JSON keys: path, entries (a list of
    objects with kind "project", "asset", "version", "directory" or "file", name, path; versions add
    latest and probation; with --long projects add usage, assets latest, versions upload_user_id,
    upload_finish, files, size, stored_size, and files size, md5sum, link).
    """
    settings = settings_of(ctx)
    client = settings.client()
    levels = depth(path)
    if levels == 0:
        rows = _registry_rows(client, long, recursive)
    elif levels == 1:
        rows = _project_rows(client.project(path.strip("/")), long, recursive)
    elif levels == 2:
        rows = _asset_rows(asset_only(client, path), long, recursive)
    else:
        version, inside = version_path(client, path)
        rows = _file_rows(version, inside, long, recursive)
    out = settings.output
    if out.json_mode:
        out.document({"path": path.strip("/"), "entries": rows})
    else:
        _show_rows(out, rows, long, recursive)


# --------------------------------------------------------------------------------------------- cat


@command("cat")
def cat(
    ctx: typer.Context,
    path: Annotated[
        str,
        typer.Argument(
            help="PROJECT/ASSET/VERSION/PATH of one file.", autocompletion=registry_paths(4), metavar="PATH"
        ),
    ],
) -> None:
    """Write one file's bytes to standard output (a remote copy is verified against the manifest first).

    Internal files such as ``..summary`` can be read too. Not available with --json.
    """
    settings = settings_of(ctx)
    if settings.json_mode:
        raise usage_error("cat writes the file's bytes; --json is not available")
    version, inside = version_path(settings.client(), path)
    if inside is None:
        raise InvalidRequestError(f"{path!r} names a version, not a file inside one")
    if not any(part.startswith("..") for part in inside.split("/")):
        entry = version.manifest().get(inside)
        if entry is None:
            raise NotFoundError(f"no file {inside!r} in {version.key}")
        if entry.is_directory:
            raise InvalidRequestError(f"{path!r} is a directory, not a file")
    local = version.fetch(inside)
    with open(local, "rb") as source:
        shutil.copyfileobj(source, sys.stdout.buffer)
    sys.stdout.buffer.flush()


# --------------------------------------------------------------------------------------- documents


@command("manifest")
def manifest(
    ctx: typer.Context,
    path: Annotated[
        str,
        typer.Argument(
            help="PROJECT/ASSET/VERSION, or PROJECT/ASSET for its latest version.",
            autocompletion=registry_paths(3),
            metavar="VERSION",
        ),
    ],
) -> None:
    """Every file of a version with its size, MD5 and link target.

    JSON keys: version, size (bytes of all its files, links included), stored_size (bytes of the files
    that are not links), total_size (the same as size, as in ``Manifest.total_size``), manifest (the
    registry's ``..manifest`` document: path → size, md5sum, and link with project, asset, version, path
    and perhaps ancestor).
    """
    settings = settings_of(ctx)
    version = version_only(settings.client(), path, bare_asset=True)
    document = version.manifest()
    size, stored = manifest_sizes(document)
    out = settings.output
    if out.json_mode:
        out.document(
            {
                "version": version.key,
                "size": size,
                "stored_size": stored,
                "total_size": size,
                "manifest": document.model_dump(mode="json"),
            }
        )
        return
    out.table(
        ["path", "size", "md5sum", "link"],
        [
            (
                p + ("/" if e.is_directory else ""),
                human_size(e.size),
                e.md5sum,
                e.link.registry_path if e.link else None,
            )
            for p, e in document.items()
        ],
        title=f"{version.key}: {len(document)} entries, {human_size(size)} ({human_size(stored)} stored)",
        right=["size"],
    )


def summary_document(version: Version, summary: Summary) -> dict[str, Any]:
    """The JSON document of ``summary`` (keys in the docstring of the ``summary`` command)."""
    return {
        "version": version.key,
        "upload_user_id": summary.upload_user_id,
        "upload_start": timestamp(summary.upload_start),
        "upload_finish": timestamp(summary.upload_finish),
        "on_probation": summary.on_probation,
    }


@command("summary")
def summary(ctx: typer.Context, path: VersionArg) -> None:
    """Who uploaded a version, when, and whether it is on probation.

    JSON keys: version, upload_user_id, upload_start, upload_finish, on_probation.
    """
    settings = settings_of(ctx)
    version = version_only(settings.client(), path)
    document = summary_document(version, version.summary())
    out = settings.output
    if out.json_mode:
        out.document(document)
    else:
        out.table(["field", "value"], list(document.items()))


@command("latest")
def latest(
    ctx: typer.Context,
    path: Annotated[
        str, typer.Argument(help="PROJECT/ASSET.", metavar="ASSET", autocompletion=registry_paths(2))
    ],
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Recompute it from the versions first (administrators).")
    ] = False,
) -> None:
    """The latest non-probational version of an asset (nothing is printed when there is none).

    JSON keys: asset, latest (a version name or null).
    """
    settings = settings_of(ctx)
    asset = asset_only(settings.client(), path)
    found = asset.refresh_latest() if refresh else asset.latest()
    if found is None and not asset.exists():
        raise NotFoundError(f"asset {asset.key} does not exist")
    out = settings.output
    if out.json_mode:
        out.document({"asset": asset.key, "latest": found.name if found is not None else None})
    elif found is not None:
        out.line(found.name)


@command("usage")
def usage(
    ctx: typer.Context,
    project: Annotated[
        str, typer.Argument(help="PROJECT.", autocompletion=registry_paths(1), metavar="PROJECT")
    ],
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Recompute it from the manifests first (administrators).")
    ] = False,
) -> None:
    """The bytes a project uses, as recorded by the service (printed as a plain number).

    JSON keys: project, usage.
    """
    settings = settings_of(ctx)
    handle = settings.client().project(project.strip("/"))
    total = handle.refresh_usage() if refresh else handle.usage()
    out = settings.output
    if out.json_mode:
        out.document({"project": handle.name, "usage": total})
    else:
        out.line(str(total))


# ------------------------------------------------------------------------------------- permissions


class DefaultShowGroup(typer.core.TyperGroup):
    """A group whose first argument, when it is no sub-command, goes to the ``show`` sub-command.

    So ``permissions PROJECT`` shows and ``permissions set PROJECT ...`` changes.
    """

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        """Route ``permissions PROJECT`` to ``permissions show PROJECT``."""
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        rest: list[str] = super().parse_args(ctx, args)
        return rest

    def shell_complete(self, ctx: typer.Context, incomplete: str) -> list[Any]:  # type: ignore[override]
        """Complete sub-command names and, as ``show`` would, project and asset names."""
        items: list[Any] = super().shell_complete(ctx, incomplete)
        if not incomplete.startswith("-"):
            argument = next(p for p in self.commands["show"].params if p.param_type_name == "argument")
            items += argument.shell_complete(ctx, incomplete)
        return items


permissions_app = typer.Typer(
    cls=DefaultShowGroup,
    help="Show a project's or asset's permissions (permissions PROJECT[/ASSET]) or change them (set).",
    no_args_is_help=True,
)
app.add_typer(permissions_app, name="permissions")


def permissions_document(handle: Project | Asset, permissions: Permissions) -> dict[str, Any]:
    """The JSON document of ``permissions`` (keys in the docstring of ``permissions show``)."""
    parts = handle.key.split("/")
    return {
        "project": parts[0],
        "asset": parts[1] if len(parts) > 1 else None,
        "owners": list(permissions.owners),
        "uploaders": [uploader.to_json() for uploader in permissions.uploaders],
        "global_write": permissions.global_write if len(parts) == 1 else None,
    }


def show_permissions(out: Output, document: dict[str, Any]) -> None:
    """Write a permissions document as JSON or as a table."""
    if out.json_mode:
        out.document(document)
        return
    rows: list[tuple[object, ...]] = [("owner", owner, "", "", "", "") for owner in document["owners"]]
    rows += [
        ("uploader", u["id"], u.get("asset"), u.get("version"), u.get("until"), u.get("trusted"))
        for u in document["uploaders"]
    ]
    title = document["project"] + (f"/{document['asset']}" if document["asset"] else "")
    if document["global_write"] is not None:
        title += f" (global write: {'yes' if document['global_write'] else 'no'})"
    out.table(["role", "user", "asset", "version", "until", "trusted"], rows, title=title)


@command("show", on=permissions_app)
def permissions_show(
    ctx: typer.Context,
    path: Annotated[
        str,
        typer.Argument(help="PROJECT or PROJECT/ASSET.", autocompletion=registry_paths(2), metavar="PATH"),
    ],
) -> None:
    """Owners, uploaders and the global-write flag of a project, or an asset's own permissions.

    JSON keys: project, asset (null for a project), owners, uploaders (objects with id and, when set,
    asset, version, until, trusted), global_write (null for an asset).
    """
    settings = settings_of(ctx)
    handle = project_or_asset(settings.client(), path)
    show_permissions(settings.output, permissions_document(handle, handle.permissions()))
