"""Simultaneous uploads: nothing lost, usage exact, latest sane (PROTOCOL.md section 13).

Uploads to different assets of a project run in parallel; uploads to one asset are serialised by the
asset lock, so each one deduplicates against the version completed just before it. Several service
instances may share a registry through the same lock files, including a mix of the reference binary and
the embedded service.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from gobbler_sdk._rfc3339 import parse_rfc3339

from .harness import Gobbler, Reply, entry

# Every version of an asset holds this file (deduplicated after the first upload) plus files of its own.
SHARED = "shared/common.bin"


def shared_content(asset: str) -> bytes:
    return f"shared by every version of {asset}\n".encode() * 8


def version_tree(asset: str, version: str) -> dict[str, bytes | None]:
    """Files unique to one version (so they are never deduplicated), the shared file, an empty dir."""
    own = f"{asset}/{version}\n".encode()
    return {
        "own.txt": own * 3,
        "nested/deeper/data.txt": own * 5,
        SHARED: shared_content(asset),
        "empty": None,
    }


def upload_all(jobs: list[tuple[Gobbler, str, str, str, str]]) -> list[Reply]:
    """POST every upload at once, one thread and one HTTP client per upload, all released together.

    Args:
        jobs: ``(driver, project, asset, version, source name)``; sources are created beforehand.
    """
    barrier = threading.Barrier(len(jobs))

    def run(job: tuple[Gobbler, str, str, str, str]) -> Reply:
        driver, project, asset, version, source = job
        own = Gobbler(driver.service)  # a private HTTP client per thread
        try:
            barrier.wait(timeout=30)
            return own.upload(project, asset, version, source)
        finally:
            own.close()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(run, jobs))


def prepare(g: Gobbler, project: str, asset: str, version: str) -> tuple[Gobbler, str, str, str, str]:
    """Create the source directory of one upload in ``g``'s staging area."""
    return (g, project, asset, version, g.source(version_tree(asset, version)))


def check_asset(g: Gobbler, project: str, asset: str, versions: list[str]) -> int:
    """Check every manifest of an asset whose versions were uploaded concurrently; return its usage.

    The uploads were serialised in some order: the first stored the shared file, each later one linked it
    to the version completed just before. So the versions form one chain: exactly one holds the real file,
    every other one links to a distinct predecessor with that real file as the ancestor (none when the
    predecessor is the first), and ``..latest`` names the end of the chain.
    """
    real = entry(shared_content(asset))
    first: list[str] = []
    parents: dict[str, str] = {}
    for version in versions:
        manifest = g.manifest(project, asset, version)
        tree = version_tree(asset, version)
        expected = {path: entry(content) for path, content in tree.items() if content is not None}
        expected["empty"] = {"size": 0, "md5sum": ""}
        shared = manifest.get(SHARED, {})
        link = shared.get("link")
        if link is None:
            first.append(version)
        else:
            parents[version] = link["version"]
            expected[SHARED] = {**real, "link": link}
        assert manifest == expected, (version, manifest)
    assert len(first) == 1, first
    origin = first[0]
    assert sorted(parents.values()) == sorted(set(versions) - {g.latest(project, asset)}), parents
    for version, parent in parents.items():
        link = g.manifest(project, asset, version)[SHARED]["link"]
        base = {"project": project, "asset": asset, "version": parent, "path": SHARED}
        if parent == origin:
            assert link == base
        else:
            assert link == {**base, "ancestor": {**base, "version": origin}}
    # Walking back from the latest version visits every version exactly once.
    chain = [g.latest(project, asset)]
    while chain[-1] in parents:
        chain.append(parents[chain[-1]])
    assert sorted(chain) == sorted(versions)

    own_sizes = sum(
        len(content)
        for version in versions
        for path, content in version_tree(asset, version).items()
        if content is not None and path != SHARED
    )
    return own_sizes + real["size"]


def check_latest(g: Gobbler, project: str, asset: str, versions: list[str]) -> None:
    """``..latest`` names a version finishing last; ``refresh_latest`` then breaks ties by smallest name."""
    finishes = {v: parse_rfc3339(g.summary(project, asset, v)["upload_finish"]) for v in versions}
    last = max(f for f in finishes.values() if f is not None)
    assert finishes[g.latest(project, asset) or ""] == last
    reply = g.request("refresh_latest", {"project": project, "asset": asset})
    assert reply.status == 200, reply
    assert g.latest(project, asset) == min(v for v, f in finishes.items() if f == last)


def test_uploads_to_different_assets_of_one_project(gobbler: Gobbler, project: str) -> None:
    assets = [f"asset{i:02d}" for i in range(24)]
    jobs = [prepare(gobbler, project, asset, "v1") for asset in assets]
    replies = upload_all(jobs)
    assert [r.status for r in replies] == [200] * len(jobs), replies

    total = 0
    for asset in assets:
        total += check_asset(gobbler, project, asset, ["v1"])
        assert gobbler.latest(project, asset) == "v1"
    assert gobbler.usage(project) == total
    refreshed = gobbler.request("refresh_usage", {"project": project})
    assert (refreshed.status, refreshed.body.get("total")) == (200, total)


def test_uploads_of_many_versions_of_one_asset(gobbler: Gobbler, project: str) -> None:
    versions = [f"v{i:02d}" for i in range(16)]
    jobs = [prepare(gobbler, project, "a", version) for version in versions]
    replies = upload_all(jobs)
    assert [r.status for r in replies] == [200] * len(jobs), replies

    total = check_asset(gobbler, project, "a", versions)
    assert gobbler.usage(project) == total
    check_latest(gobbler, project, "a", versions)


def test_mixed_assets_and_versions(gobbler: Gobbler, project: str) -> None:
    layout = {f"asset{i}": [f"v{j}" for j in range(4)] for i in range(6)}
    jobs = [prepare(gobbler, project, a, v) for a, versions in layout.items() for v in versions]
    replies = upload_all(jobs)
    assert [r.status for r in replies] == [200] * len(jobs), replies

    total = sum(check_asset(gobbler, project, a, versions) for a, versions in layout.items())
    assert gobbler.usage(project) == total
    for asset, versions in layout.items():
        check_latest(gobbler, project, asset, versions)


def test_two_services_sharing_one_registry(start_gobbler_variant: Callable[..., Gobbler]) -> None:
    # With GOBBLER_BINARY set the first one is the reference and the second the embedded service, which
    # is the case the shared flock discipline exists for; otherwise both are embedded.
    first = start_gobbler_variant()
    second = start_gobbler_variant(registry=first.registry, binary=None)
    assert first.staging != second.staging
    project = first.create_project()

    # Both instances upload to the same assets (different versions) and to assets of their own.
    layout: dict[str, list[tuple[Gobbler, str]]] = {}
    for i in range(2):
        layout[f"both{i}"] = [(first, f"x{j}") for j in range(4)] + [(second, f"y{j}") for j in range(4)]
    layout["first-only"] = [(first, f"v{j}") for j in range(4)]
    layout["second-only"] = [(second, f"v{j}") for j in range(4)]
    jobs = [prepare(driver, project, a, v) for a, pairs in layout.items() for driver, v in pairs]
    replies = upload_all(jobs)
    assert [r.status for r in replies] == [200] * len(jobs), replies

    total = 0
    for asset, pairs in layout.items():
        versions = [v for _, v in pairs]
        total += check_asset(first, project, asset, versions)
        check_latest(first, project, asset, versions)
    assert first.usage(project) == total
    for driver in (first, second):
        refreshed = driver.request("refresh_usage", {"project": project})
        assert (refreshed.status, refreshed.body.get("total")) == (200, total)
