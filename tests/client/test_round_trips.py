"""Requests made by the reads a long round trip makes expensive, watched through a counting proxy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

from gobbler_sdk import GobblerClient, Version
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import LyingServer, make_tree, unique


@pytest.fixture
def remote(proxy: LyingServer, make_client: Callable[..., GobblerClient]) -> GobblerClient:
    return make_client(proxy.url, transport="remote")


@pytest.fixture
def version(service: GobblerService, remote: GobblerClient, proxy: LyingServer) -> Version:
    name = new_project(service)
    files = {f"d{i % 3}/f{i:02d}.txt": f"contents {i}" for i in range(30)}
    source = make_tree(service.staging / unique("src"), files)
    service.request("upload", {"source": source.name, "project": name, "asset": "a", "version": "v1"})
    proxy.reset()
    return remote.project(name).asset("a").version("v1")


def test_fetching_a_file_of_a_version_never_read_takes_two_requests(
    version: Version, proxy: LyingServer
) -> None:
    path = version.fetch("d0/f00.txt")
    assert path.read_text() == "contents 0"
    assert proxy.paths("/fetch/") == [f"/fetch/{version.key}/..manifest", f"/fetch/{version.key}/d0/f00.txt"]


def test_fetching_a_file_of_a_version_whose_documents_are_cached_takes_one_request(
    version: Version, proxy: LyingServer
) -> None:
    version.manifest()  # learns the version is settled and caches both documents
    proxy.reset()
    assert version.fetch("d1/f01.txt").read_text() == "contents 1"
    assert proxy.paths("/fetch/") == [f"/fetch/{version.key}/d1/f01.txt"]
    assert proxy.paths("/list") == []


def test_a_settled_manifest_is_parsed_once_per_client(version: Version, proxy: LyingServer) -> None:
    first = version.manifest()
    assert version.manifest() is first
    assert version.manifest(force_remote=True) is first
    # overwrite asks the service again and keeps the new answer
    again = version.manifest(overwrite=True)
    assert again == first
    assert again is not first
    assert version.manifest() is again
    assert proxy.count(f"/fetch/{version.key}/..manifest") == 2


def test_a_kept_manifest_costs_no_read_while_its_version_stands_confirmed(
    version: Version, remote: GobblerClient, proxy: LyingServer, make_client: Callable[..., GobblerClient]
) -> None:
    first = version.manifest()
    assert version.manifest() is first  # compared with the cached bytes once, then trusted
    cached = remote.cache_dir / "REGISTRY" / version.key / "..manifest"
    cached.unlink()
    # No read at all: neither the (now missing) cached copy nor the service is asked.
    assert version.manifest() is first
    assert proxy.count(f"/fetch/{version.key}/..manifest") == 1
    # A client that confirms every time reads again (the cache lost its copy, so from the service).
    eager = make_client(proxy.url, transport="remote", cache=remote.cache_dir, revalidate_after=0)
    again = eager.project(version.project.name).asset(version.asset.name).version(version.name)
    assert again.manifest() == first
    assert again.manifest() == first
    assert proxy.count(f"/fetch/{version.key}/..manifest") == 2


def test_parsed_manifests_kept_are_bounded(
    service: GobblerService, remote: GobblerClient, proxy: LyingServer
) -> None:
    name = new_project(service)
    asset = remote.project(name).asset("a")
    for index in range(10):
        source = make_tree(service.staging / unique("src"), {"f.txt": f"v{index}"})
        service.request(
            "upload", {"source": source.name, "project": name, "asset": "a", "version": f"v{index}"}
        )
    manifests = [asset.version(f"v{index}").manifest() for index in range(10)]
    assert remote._core.documents.parsed_manifests == 8
    assert asset.version("v9").manifest() is manifests[9]
    assert asset.version("v0").manifest() is not manifests[0]  # evicted, parsed again from the cache
    assert asset.version("v0").manifest() == manifests[0]
    assert proxy.count(f"/fetch/{name}/a/v0/..manifest") == 1


def test_a_directory_download_reads_each_document_once(
    version: Version, service: GobblerService, proxy: LyingServer
) -> None:
    local = version.fetch_directory()
    prefix = f"/fetch/{version.key}/"
    requests = proxy.paths()
    # The listing, the manifest (for the entries), the summary (to know the manifest may be kept), then
    # the files: the two documents are stored as read, not downloaded a second time as internal files.
    assert requests[:3] == [
        f"/list?path={quote(quote(version.key, safe=''), safe='')}&recursive=true",
        prefix + "..manifest",
        prefix + "..summary",
    ]
    assert sorted(requests[3:]) == sorted(prefix + f"d{i % 3}/f{i:02d}.txt" for i in range(30))
    registry = service.registry / version.key
    for name in ("..manifest", "..summary"):
        assert (local / name).read_bytes() == (registry / name).read_bytes()
    assert (local / "d2" / "f29.txt").read_text() == "contents 29"


def test_a_probational_directory_download_stores_the_documents_it_read(
    service: GobblerService, remote: GobblerClient, proxy: LyingServer
) -> None:
    name = new_project(service)
    source = make_tree(service.staging / unique("src"), {"f.txt": "x", "sub/g.txt": "y"})
    service.request(
        "upload",
        {"source": source.name, "project": name, "asset": "a", "version": "p1", "on_probation": True},
    )
    trial = remote.project(name).asset("a").version("p1")
    local = trial.fetch_directory()
    assert proxy.count(f"/fetch/{trial.key}/..manifest") == 1
    assert proxy.count(f"/fetch/{trial.key}/..summary") == 1
    registry = service.registry / trial.key
    for document in ("..manifest", "..summary"):
        assert (local / document).read_bytes() == (registry / document).read_bytes()
    assert (local / "sub" / "g.txt").read_text() == "y"
    # Not settled: a second download asks for both documents again, once each.
    trial.fetch_directory()
    assert proxy.count(f"/fetch/{trial.key}/..manifest") == 2
    assert proxy.count(f"/fetch/{trial.key}/..summary") == 2


@pytest.mark.parametrize("concurrency", [None, 1, 64])
def test_directory_downloads_with_any_window(
    version: Version,
    make_client: Callable[..., GobblerClient],
    proxy: LyingServer,
    tmp_path: Path,
    concurrency: int | None,
) -> None:
    client = make_client(proxy.url, transport="remote", cache=tmp_path / "other", concurrency=concurrency)
    local = client.project(version.project.name).asset("a").version("v1").fetch_directory()
    assert sorted(p.relative_to(local).as_posix() for p in local.rglob("*.txt")) == sorted(
        f"d{i % 3}/f{i:02d}.txt" for i in range(30)
    )
    assert (local / "d2" / "f29.txt").read_text() == "contents 29"


def test_latest_and_its_manifest_take_two_requests(version: Version, proxy: LyingServer) -> None:
    asset = version.asset
    latest = asset.latest()
    assert latest is not None
    assert latest.name == "v1"
    assert len(latest.manifest()) == 30
    assert proxy.paths("/fetch/") == [f"/fetch/{asset.key}/..latest", f"/fetch/{version.key}/..manifest"]
    latest.manifest()
    assert proxy.count(f"/fetch/{version.key}/..manifest") == 1


def test_latest_is_resolved_once_per_directory_download(version: Version, proxy: LyingServer) -> None:
    # One read of ..latest, then every request names the version it gave: a directory download cannot
    # straddle a new upload that lands half-way through.
    asset = version.asset
    local = version.client.fetch_directory(f"{asset.key}/..latest")
    assert local.name == version.name
    asked = [path for _, path in proxy.requests if asset.name in path]
    assert [path for path in asked if "..latest" in path] == [f"/fetch/{asset.key}/..latest"]
    # The listing's path is URL-encoded twice (as the service expects it inside its query).
    assert asked[0] == f"/fetch/{asset.key}/..latest"
    assert all(f"{version.key}" in unquote(unquote(path)) for path in asked[1:])
    assert len(asked) > 30  # the listing, the documents and every file
