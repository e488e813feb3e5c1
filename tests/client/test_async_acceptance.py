"""One acceptance suite of reads and writes, run through the sync and the async client alike.

Each test body is written once. Through the async client every call returns a coroutine, which
:func:`done` awaits; through the sync client it returns the answer, which :func:`done` passes on. So the
two surfaces are held to the same answers, on both transports and on both services.
"""

from __future__ import annotations

import contextlib
import inspect
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gobbler_sdk import (
    AsyncGobblerClient,
    AsyncVersion,
    GobblerClient,
    InvalidRequestError,
    Manifest,
    NotFoundError,
    Version,
)
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import make_tree, me, run_async, unique


async def done(value: Any) -> Any:
    """The answer of a call on either surface."""
    return await value if inspect.isawaitable(value) else value


@contextlib.asynccontextmanager
async def opened(surface: str, url: str, **options: Any) -> AsyncIterator[GobblerClient | AsyncGobblerClient]:
    """A sync or an async client, opened and closed the way each is meant to be."""
    if surface == "sync":
        with GobblerClient(url, **options) as client:
            yield client
    else:
        async with AsyncGobblerClient(url, **options) as aclient:
            yield aclient


FILES = {"a.txt": "alpha\n", "tables/x.csv": "k,v\n1,2\n", "tables/y.csv": "k\n9\n", "deep/z.bin": "z" * 300}


@pytest.mark.parametrize("surface", ["sync", "async"])
@pytest.mark.parametrize("transport", ["local", "remote"])
def test_reads_and_writes(surface: str, transport: str, service: GobblerService, tmp_path: Path) -> None:
    async def main() -> None:
        async with opened(surface, service.url, transport=transport, cache=tmp_path / "cache") as client:
            await reads_and_writes(client, service, tmp_path)

    run_async(main())


async def reads_and_writes(
    any_client: GobblerClient | AsyncGobblerClient, service: GobblerService, tmp_path: Path
) -> None:
    name = new_project(service)
    asset = any_client.project(name).asset("data")
    assert repr(asset.version("v1")).endswith(f"Version('{name}/data/v1')")

    first = await done(asset.upload("v1", make_tree(tmp_path / "one", FILES)))
    assert first.key == f"{name}/data/v1"
    assert first == asset.version("v1")
    second = await done(
        asset.upload("v2", make_tree(tmp_path / "two", {**FILES, "a.txt": "beta\n"}), probation=True)
    )
    assert (await done(second.summary())).on_probation is True
    assert await done(asset.latest()) == first
    await done(second.approve())
    assert (await done(second.summary())).on_probation is False
    assert [v.name for v in await done(asset.versions())] == ["v1", "v2"]
    assert [a.name for a in await done(any_client.project(name).assets())] == ["data"]
    assert any_client.project(name) in await done(any_client.projects())

    manifest = await done(second.manifest())
    assert isinstance(manifest, Manifest)
    assert sorted(manifest) == sorted(FILES)
    assert manifest["tables/x.csv"].link is not None  # unchanged files link to v1
    assert (await done(second.summary())).upload_user_id == me()
    assert await done(second.files(include_dotdot=False)) == sorted(FILES)

    assert Path(await done(second.fetch("a.txt"))).read_text() == "beta\n"
    assert await done(second.read_bytes("tables/x.csv", 2, 5)) == b"v\n1"
    latest = await done(asset.latest())
    expected = Path(await done(latest.fetch("a.txt"))).read_text()
    assert Path(await done(any_client.fetch_file(f"{name}/data/..latest/a.txt"))).read_text() == expected
    local = tmp_path / "copy"
    placed = Path(await done(second.fetch_directory(allow_patterns="tables/*", local_dir=local)))
    assert placed == local
    assert sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file()) == [
        "tables/x.csv",
        "tables/y.csv",
    ]
    whole = Path(await done(any_client.fetch_directory(f"{name}/data/v1", verify=True)))
    assert (whole / "deep" / "z.bin").read_text() == "z" * 300
    assert await done(any_client.read_range(f"{name}/data/v1/a.txt", 0, 3)) == b"alp"
    listing = await done(any_client.listing(f"{name}/data/v1"))
    assert "tables/" in listing and "a.txt" in listing
    assert b'"owners"' in await done(any_client.read_document(f"{name}/..permissions"))
    report = await done(second.verify(placed))
    assert report.missing == tuple(sorted(set(FILES) - {"tables/x.csv", "tables/y.csv"}))
    difference = await done(second.diff(first))
    assert list(difference.changed) == ["a.txt"]

    await done(asset.set_permissions(owners=["someone"]))
    assert (await done(asset.permissions())).owners == ("someone",)
    assert await done(any_client.project(name).usage()) > 0
    info = await done(any_client.service_info())
    assert Path(info.registry).resolve() == service.registry.resolve()

    plan = await done(any_client.reroute_links([first], dry_run=True))
    assert {change.path for change in plan} >= {f"{name}/data/v2/tables/x.csv"}
    await done(second.validate())
    await done(second.reindex())

    with pytest.raises(InvalidRequestError, match="not on probation"):
        await done(first.approve())
    with pytest.raises(NotFoundError):
        await done(asset.version("v9").manifest())
    with pytest.raises(NotFoundError):
        await done(any_client.project(unique("nope")).asset("x").latest())

    await done(first.remove())
    assert [v.name for v in await done(asset.versions())] == ["v2"]
    await done(any_client.project(name).remove())
    assert not await done(any_client.project(name).exists())


def test_an_async_and_a_sync_client_share_one_cache(service: GobblerService, tmp_path: Path) -> None:
    run_async(shared_cache(service, tmp_path))


async def shared_cache(service: GobblerService, tmp_path: Path) -> None:
    name = new_project(service)
    source = make_tree(service.staging / unique("src"), {"f.txt": "shared"})
    service.request("upload", {"source": source.name, "project": name, "asset": "a", "version": "v1"})
    cache = tmp_path / "cache"
    async with AsyncGobblerClient(service.url, transport="remote", cache=cache) as aclient:
        version: AsyncVersion = aclient.project(name).asset("a").version("v1")
        fetched = await version.fetch_directory()
    with GobblerClient(service.url, transport="remote", cache=cache, offline=True) as offline:
        synced: Version = offline.project(name).asset("a").version("v1")
        assert synced.fetch_directory() == fetched
        assert synced.fetch("f.txt").read_text() == "shared"
    async with AsyncGobblerClient(service.url, transport="remote", cache=cache, offline=True) as again:
        assert (await again.project(name).asset("a").version("v1").manifest())["f.txt"].size == 6
    # Another process, offline: it sees the entries the async client verified.
    script = (
        "import sys; from gobbler_sdk import GobblerClient; "
        "c = GobblerClient(sys.argv[1], transport='remote', cache=sys.argv[2], offline=True); "
        "print(c.fetch_file(sys.argv[3]).read_text())"
    )
    other = subprocess.run(
        [sys.executable, "-c", script, service.url, str(cache), f"{name}/a/v1/f.txt"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (other.returncode, other.stdout) == (0, "shared\n"), other.stderr
