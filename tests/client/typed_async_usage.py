"""Typed use of the async client: checked by ``mypy --strict`` (tests/client/test_typing.py), then run.

``assert_type`` fails the type check when a coroutine's awaited type is not the one written here.
"""

from __future__ import annotations

from pathlib import Path

from typing_extensions import assert_type

from gobbler_sdk import (
    AsyncAsset,
    AsyncGobblerClient,
    AsyncProject,
    AsyncVersion,
    Manifest,
    Permissions,
    ServiceInfo,
    Summary,
    UploadPlan,
)


async def exercise(client: AsyncGobblerClient, name: str, source: Path) -> list[str]:
    """Upload, list and read through the async client; return what a person would look at."""
    project = await client.create_project(name)
    assert_type(project, AsyncProject)
    asset = project.asset("data")
    assert_type(asset, AsyncAsset)
    assert_type(await asset.upload("v1", source, dry_run=True), UploadPlan)
    version = await asset.upload("v1", source)
    assert_type(version, AsyncVersion)
    assert_type(await asset.versions(), list[AsyncVersion])
    assert_type(await asset.latest(), AsyncVersion | None)
    assert_type(await version.manifest(), Manifest)
    assert_type(await version.summary(), Summary)
    assert_type(await version.fetch("file.txt"), Path)
    assert_type(await version.read_bytes("file.txt"), bytes)
    assert_type(await project.permissions(), Permissions)
    assert_type(await project.usage(), int)
    assert_type(await client.service_info(), ServiceInfo)
    assert_type(await client.projects(), list[AsyncProject])
    manifest = await version.manifest()
    return [version.key, ",".join(sorted(manifest)), (await version.fetch("file.txt")).read_text()]
