"""``download``: versions, directories inside them, or single files, to the cache or a chosen directory."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .app import command, settings_of, usage_error
from .completion import registry_paths
from .progress import bar_class
from .targets import version_path

if TYPE_CHECKING:
    from .. import GobblerClient, Version

__all__: list[str] = []


@command("download")
def download(
    ctx: typer.Context,
    paths: Annotated[
        list[str],
        typer.Argument(
            help="PROJECT/ASSET/VERSION, a directory inside it, or one file; PROJECT/ASSET for its latest "
            "version. Several may be given.",
            autocompletion=registry_paths(4),
            metavar="PATH...",
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
        int | None, typer.Option("--concurrency", min=1, help="Parallel downloads.", metavar="N")
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
    """Download versions, directories inside them, or single files, and print where each is.

    With a mounted registry (transport local) this is the registry's own directory. A progress bar is drawn
    on standard error when it is a terminal. Every PATH is checked (and ``..latest`` looked up) before the
    first byte moves. With --to, a file lands in DIR under its name and a directory's contents in DIR, so
    at most one directory may be given with it. JSON keys: downloads (one object per PATH with source,
    path, kind "file" or "directory"); source, path and kind repeat those of the first PATH.
    """
    settings = settings_of(ctx)
    client = settings.client()
    targets = [_target(client, path) for path in paths]
    if (include or exclude) and any(target.kind == "file" for target in targets):
        raise usage_error("--include and --exclude apply to directories, not to one file")
    if to is not None:
        _check_destinations(targets)
    bar = bar_class(settings)
    done = []
    for target in targets:
        if target.kind == "file":
            local = _download_file(
                target, to, overwrite=overwrite, verify=not no_verify, progress=settings.progress, bar=bar
            )
        else:
            local = client.fetch_directory(
                target.key,
                overwrite=overwrite,
                concurrency=concurrency,
                progress=settings.progress,
                tqdm_class=bar,
                allow_patterns=include or None,
                ignore_patterns=exclude or None,
                local_dir=to,
                verify=not no_verify,
            )
        done.append({"source": target.source, "path": str(local), "kind": target.kind})
    out = settings.output
    if out.json_mode:
        out.document({**done[0], "downloads": done})
    else:
        for row in done:
            out.line(row["path"])


@dataclass(frozen=True)
class _Target:
    """One PATH of ``download``: as given, resolved, and whether it names a file or a directory."""

    source: str
    version: Version
    inside: str | None
    kind: str

    @property
    def key(self) -> str:
        return self.version.key + (f"/{self.inside}" if self.inside else "")


def _target(client: GobblerClient, path: str) -> _Target:
    version, inside = version_path(client, path, bare_asset=True)
    entry = version.manifest().get(inside) if inside is not None else None
    kind = "file" if entry is not None and not entry.is_directory else "directory"
    return _Target(path.strip("/"), version, inside, kind)


def _check_destinations(targets: list[_Target]) -> None:
    # Nothing is written before two PATHs are known not to land on each other.
    if sum(target.kind == "directory" for target in targets) > 1:
        raise usage_error("--to takes one directory at a time (their contents would be mixed); run one each")
    names = [PurePosixPath(target.key).name for target in targets if target.kind == "file"]
    clashing = sorted({name for name in names if names.count(name) > 1})
    if clashing:
        raise usage_error(f"--to would write {', '.join(clashing)} more than once")


def _download_file(
    target: _Target, to: Path | None, *, overwrite: bool, verify: bool, progress: bool, bar: Any
) -> Path:
    assert target.inside is not None
    local = target.version.fetch(
        target.inside, overwrite=overwrite, verify=verify, progress=progress, tqdm_class=bar
    )
    if to is None:
        return local
    to.mkdir(parents=True, exist_ok=True)
    copy = to / PurePosixPath(target.inside).name
    shutil.copyfile(local, copy)
    return copy
