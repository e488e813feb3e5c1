"""``download``: a version, a directory inside one, or one file, to the cache or a chosen directory."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from .app import command, settings_of, usage_error
from .completion import registry_paths
from .targets import version_path

__all__: list[str] = []


@command("download")
def download(
    ctx: typer.Context,
    path: Annotated[
        str,
        typer.Argument(
            help="PROJECT/ASSET/VERSION, a directory inside it, or one file.",
            autocompletion=registry_paths(4),
            metavar="PATH",
        ),
    ],
    to: Annotated[
        Path | None,
        typer.Option(
            "--to",
            help="Put the files in this directory (copies, not links) instead of using the cache.",
            metavar="DIR",
        ),
    ] = None,
    include: Annotated[
        list[str] | None,
        typer.Option(
            "--include",
            help="Only paths (inside the version) matching this glob; repeatable.",
            metavar="GLOB",
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="Leave out paths matching this glob; repeatable.", metavar="GLOB"),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, help="Parallel downloads.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Download again even what is cached and verified.")
    ] = False,
    no_verify: Annotated[
        bool,
        typer.Option(
            "--no-verify", help="Do not hash the downloads (or cached copies) against the manifest."
        ),
    ] = False,
) -> None:
    """Download a version, a directory inside one, or a single file, and print where it is.

    With a mounted registry (transport local) this is the registry's own directory. A progress bar is drawn
    on standard error when it is a terminal. JSON keys: source, path, kind ("file" or "directory").
    """
    settings = settings_of(ctx)
    client = settings.client()
    version, inside = version_path(client, path)
    entry = version.manifest().get(inside) if inside is not None else None
    out = settings.output
    if entry is not None and not entry.is_directory:
        if include or exclude:
            raise usage_error("--include and --exclude apply to directories, not to one file")
        assert inside is not None
        local = version.fetch(inside, overwrite=overwrite, verify=not no_verify)
        if to is not None:
            to.mkdir(parents=True, exist_ok=True)
            target = to / Path(inside).name
            shutil.copyfile(local, target)
            local = target
        kind = "file"
    else:
        local = client.fetch_directory(
            version.key + (f"/{inside}" if inside else ""),
            overwrite=overwrite,
            concurrency=concurrency,
            progress=settings.progress,
            allow_patterns=include or None,
            ignore_patterns=exclude or None,
            local_dir=to,
            verify=not no_verify,
        )
        kind = "directory"
    if out.json_mode:
        out.document({"source": path.strip("/"), "path": str(local), "kind": kind})
    else:
        out.line(str(local))
