"""The download cache, watched through a counting proxy: reuse, overwrite, corruption, concurrent fillers."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient, Version
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import Link, LyingServer, make_tree, snapshot, unique


@pytest.fixture
def remote(proxy: LyingServer, make_client: Callable[..., GobblerClient]) -> GobblerClient:
    return make_client(proxy.url, transport="remote")


@pytest.fixture
def version(service: GobblerService, remote: GobblerClient, proxy: LyingServer) -> Version:
    return upload_version(service, remote, proxy)


def upload_version(service: GobblerService, remote: GobblerClient, proxy: LyingServer) -> Version:
    """A new version (a file, a link to it, a sub-directory, an empty directory) read through ``remote``."""
    name = new_project(service)
    source = make_tree(
        service.staging / unique("src"),
        {"f.txt": "file contents", "sub/g.txt": "more", "alias": Link("f.txt"), "empty": None},
    )
    service.request("upload", {"source": source.name, "project": name, "asset": "a", "version": "v1"})
    proxy.reset()
    return remote.project(name).asset("a").version("v1")


def downloads(proxy: LyingServer, version: Version, path: str) -> int:
    return proxy.count(f"/fetch/{version.key}/{path}")


def test_reuse(version: Version, proxy: LyingServer, remote: GobblerClient) -> None:
    first = version.fetch("f.txt")
    inode = first.stat().st_ino
    assert version.fetch("f.txt") == first
    assert remote.fetch_file(f"{version.key}/f.txt") == first
    assert first.stat().st_ino == inode
    assert downloads(proxy, version, "f.txt") == 1
    assert first == remote.cache_dir / "REGISTRY" / version.key / "f.txt"


def test_overwrite(version: Version, proxy: LyingServer) -> None:
    first = version.fetch("f.txt")
    inode = first.stat().st_ino
    again = version.fetch("f.txt", overwrite=True)
    assert again == first and again.read_text() == "file contents"
    assert again.stat().st_ino != inode  # replaced atomically by a new file
    assert downloads(proxy, version, "f.txt") == 2


@pytest.mark.parametrize("damage", ["same size", "truncated", "grown", "removed"])
def test_damaged_cached_file_is_fetched_again(version: Version, proxy: LyingServer, damage: str) -> None:
    cached = version.fetch("f.txt")
    if damage == "same size":
        cached.write_text("FILE CONTENTS")
    elif damage == "truncated":
        cached.write_text("file")
    elif damage == "grown":
        cached.write_text("file contents and more")
    else:
        cached.unlink()
    assert version.fetch("f.txt").read_text() == "file contents"
    assert downloads(proxy, version, "f.txt") == 2


def test_internal_files_are_always_fetched_again(
    version: Version, proxy: LyingServer, remote: GobblerClient
) -> None:
    summary = remote.fetch_file(f"{version.key}/..summary")
    summary.write_text("stale")
    assert remote.fetch_file(f"{version.key}/..summary").read_text() != "stale"
    assert downloads(proxy, version, "..summary") == 2


def test_directory_reuse_overwrite_and_repair(version: Version, proxy: LyingServer) -> None:
    directory = version.fetch_directory()
    user_files = ("f.txt", "alias", "sub/g.txt")
    assert sum(downloads(proxy, version, p) for p in user_files) == 2  # alias shares f.txt's bytes
    assert (directory / "empty").is_dir()

    proxy.reset()
    assert version.fetch_directory() == directory
    assert sum(downloads(proxy, version, p) for p in user_files) == 0

    (directory / "sub" / "g.txt").write_text("ruin")
    (directory / "alias").unlink()
    proxy.reset()
    version.fetch_directory()
    assert (directory / "sub" / "g.txt").read_text() == "more"
    assert (directory / "alias").read_text() == "file contents"
    assert downloads(proxy, version, "sub/g.txt") == 1
    assert downloads(proxy, version, "f.txt") + downloads(proxy, version, "alias") == 0

    proxy.reset()
    version.fetch_directory(overwrite=True)
    assert sum(downloads(proxy, version, p) for p in user_files) == 2

    proxy.reset()
    assert version.fetch_directory(overwrite=True) == directory
    assert sum(downloads(proxy, version, p) for p in user_files) == 2


def test_concurrent_fillers(
    version: Version, proxy: LyingServer, make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    clients = [make_client(proxy.url, transport="remote", cache=tmp_path / "shared") for _ in range(6)]
    barrier = threading.Barrier(len(clients))
    results: list[object] = []

    def fill(client: GobblerClient) -> None:
        handle = client.project(version.project.name).asset("a").version("v1")
        barrier.wait()
        try:
            results.append((handle.fetch("f.txt", overwrite=True), handle.fetch_directory(overwrite=True)))
        except BaseException as exc:  # reported below
            results.append(exc)

    threads = [threading.Thread(target=fill, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    directory = tmp_path / "shared" / "REGISTRY" / version.key
    assert results == [(directory / "f.txt", directory)] * len(clients)
    assert (directory / "f.txt").read_text() == "file contents"
    assert (directory / "alias").read_text() == "file contents"
    assert (directory / "sub" / "g.txt").read_text() == "more"
    leftovers = [p for p in snapshot(tmp_path / "shared") if os.path.basename(p).startswith(".gobbler-")]
    assert leftovers == []


def test_settled_documents_are_served_from_the_cache(version: Version, proxy: LyingServer) -> None:
    summary, manifest = version.summary(), version.manifest()
    for _ in range(3):
        assert version.summary() == summary
        assert version.manifest() == manifest
    assert downloads(proxy, version, "..summary") == 1
    assert downloads(proxy, version, "..manifest") == 1
    assert version.manifest(overwrite=True) == manifest
    assert version.summary(overwrite=True) == summary
    assert downloads(proxy, version, "..manifest") == 2
    assert downloads(proxy, version, "..summary") == 2


def test_a_manifest_read_first_learns_that_the_version_is_settled(
    version: Version, proxy: LyingServer
) -> None:
    manifest = version.manifest()
    assert downloads(proxy, version, "..summary") == 1  # asked once, to know the manifest can be kept
    assert version.manifest() == manifest
    assert version.summary().on_probation is False
    assert downloads(proxy, version, "..manifest") == 1
    assert downloads(proxy, version, "..summary") == 1


def test_settled_documents_survive_a_new_client(
    version: Version, proxy: LyingServer, make_client: Callable[..., GobblerClient], remote: GobblerClient
) -> None:
    version.summary()
    version.manifest()
    again = make_client(proxy.url, transport="remote", cache=remote.cache_dir)
    other = again.project(version.project.name).asset("a").version("v1")
    assert other.manifest() == version.manifest()
    assert other.summary().upload_user_id == version.summary().upload_user_id
    assert downloads(proxy, version, "..manifest") == 1
    # The new client confirms the cached version once (its summary), then reads everything from the cache.
    assert downloads(proxy, version, "..summary") == 2


def test_probational_documents_are_always_fetched(
    service: GobblerService, remote: GobblerClient, proxy: LyingServer
) -> None:
    name = new_project(service)
    source = make_tree(service.staging / unique("src"), {"f.txt": "x"})
    service.request(
        "upload",
        {"source": source.name, "project": name, "asset": "a", "version": "p1", "on_probation": True},
    )
    trial = remote.project(name).asset("a").version("p1")
    assert trial.summary().on_probation is True
    trial.manifest()  # not known to be settled: the summary is asked for again
    assert trial.summary().on_probation is True
    assert proxy.count(f"/fetch/{trial.key}/..summary") == 3
    trial.approve()
    # Approval rewrote the summary; the client sees it at once, then reuses the settled version's documents
    # (approval never changes a manifest, so the one kept while it was probational still holds).
    assert trial.summary().on_probation is False
    trial.manifest()
    trial.manifest()
    trial.summary()
    # approve() read the summary once more, to refuse approving what is not on probation.
    assert proxy.count(f"/fetch/{trial.key}/..summary") == 5
    assert proxy.count(f"/fetch/{trial.key}/..manifest") == 1
