"""Typed use of the public API, chained calls included.

``mypy --strict`` checks this file (test_typing.py), so every annotation below is a claim about the SDK's
types; the same test also runs :func:`exercise` against a live service, so the claims are true at runtime.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from gobbler_sdk import (
    Asset,
    GobblerClient,
    GobblerError,
    LinkTarget,
    Manifest,
    ManifestEntry,
    NotFoundError,
    Permissions,
    ProgressEvent,
    Project,
    RerouteChange,
    ServiceInfo,
    Summary,
    Transport,
    Uploader,
    Version,
)


def sizes_of_everything(client: GobblerClient) -> dict[str, int]:
    """Total size of every version of the registry, by ``project/asset/version``."""
    sizes: dict[str, int] = {}
    for project in client.projects():
        for asset in project.assets():
            for version in asset.versions(force_remote=False):
                manifest: Manifest = version.manifest()
                sizes[version.path] = manifest.total_size
    return sizes


def exercise(client: GobblerClient, project_name: str, source: Path, clone_to: Path) -> list[str]:
    """Walk through the API with explicit types; return a few facts for the runtime test to check."""
    info: ServiceInfo = client.service_info()
    transport: Transport = client.transport
    project: Project = client.create_project(
        project_name,
        owners=[],
        uploaders=[Uploader(id="someone", until=datetime(2030, 1, 1, tzinfo=timezone.utc))],
    )
    events: list[ProgressEvent] = []
    version: Version = project.asset("data").upload("v1", source, probation=False, progress=events.append)
    asset: Asset = version.asset
    latest: Version | None = asset.latest()
    summary: Summary = client.project(project_name).asset("data").version("v1").summary(force_remote=True)
    started: datetime = summary.upload_start
    entry: ManifestEntry = version.manifest()["file.txt"]
    link: LinkTarget | None = entry.link
    local: Path = version.fetch("file.txt")
    directory: Path = version.fetch_directory()
    key: str = version.path
    text: str = key + "/file.txt"
    with version.open("file.txt") as handle:
        opened: BinaryIO = handle
        content: bytes = opened.read()
    files: list[str] = version.files(include_dotdot=False)
    permissions: Permissions = project.permissions()
    owners: tuple[str, ...] = permissions.owners
    sent: dict[str, object] = project.set_permissions(owners=["extra"], dry_run=True)
    usage: int = project.refresh_usage()
    refreshed: Version | None = asset.refresh_latest()
    cloned: Path = version.clone(clone_to)
    second: Version = asset.upload("v2", cloned)
    relinked: bool = second.manifest()["file.txt"].link is not None
    changes: list[RerouteChange] = client.reroute_links([second], dry_run=True)
    unpacked: tuple[Version, str | None] = client.unpack_path(f"{version.key}/file.txt")
    try:
        project.asset("missing").version("v").manifest()
    except NotFoundError as missing:
        status: int | None = missing.status
    except GobblerError:
        raise
    else:
        status = None
    project.remove()
    return [
        info.registry,
        transport.kind,
        str(latest),
        str(started.tzinfo is not None),
        str(link),
        local.name,
        directory.name,
        text,
        content.decode(),
        ",".join(files),
        ",".join(owners),
        str(sent),
        str(usage),
        str(refreshed),
        str(relinked),
        str(changes),
        str(unpacked[1]),
        str(status),
        str(len(events)),
    ]
