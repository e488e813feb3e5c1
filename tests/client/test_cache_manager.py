"""``client.cache``: scan, verify, prune and remove, on caches filled from the running service."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gobbler_sdk import (
    CachedVersion,
    CacheManager,
    CacheReport,
    CorruptFile,
    GobblerClient,
    InvalidRequestError,
    PruneReport,
    UnsafePathError,
    Version,
)
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import Link, make_tree, unique

FILES = {
    "f.txt": "file contents",
    "sub/g.txt": "more",
    "alias": Link("f.txt"),
    "empty": None,
    "big": "x" * 5000,
}


@pytest.fixture
def remote(service: GobblerService, make_client: Callable[..., GobblerClient]) -> GobblerClient:
    return make_client(service.url, transport="remote")


def upload(service: GobblerService, remote: GobblerClient, project: str | None = None) -> Version:
    name = project or new_project(service)
    version = unique("v")
    source = make_tree(service.staging / unique("src"), FILES)
    service.request("upload", {"source": source.name, "project": name, "asset": "a", "version": version})
    return remote.project(name).asset("a").version(version)


def on_disk(directory: Path) -> tuple[int, int]:
    """Regular files below ``directory`` that are not temporary, and their bytes."""
    count = size = 0
    for dirpath, _, filenames in os.walk(directory):
        for name in filenames:
            if not name.startswith(".gobbler-"):
                count += 1
                size += os.lstat(os.path.join(dirpath, name)).st_size
    return count, size


def age(directory: Path, days: float) -> None:
    """Make a cached version look last used ``days`` ago."""
    when = time.time() - days * 86400
    for dirpath, dirnames, filenames in os.walk(directory, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), (when, when), follow_symlinks=False)
    os.utime(directory, (when, when))


def test_scan(service: GobblerService, remote: GobblerClient) -> None:
    whole, partial = upload(service, remote), upload(service, remote)
    whole.fetch_directory()
    partial.fetch("sub/g.txt")
    (remote.cache_dir / "REGISTRY" / whole.key / ".gobbler-000000000001.part").write_bytes(b"half")
    report = remote.cache.scan()
    assert isinstance(remote.cache, CacheManager) and isinstance(report, CacheReport)
    by_key = {v.key: v for v in report.versions}
    assert set(by_key) == {whole.key, partial.key}
    found = by_key[whole.key]
    assert (found.project, found.asset, found.version) == (whole.project.name, "a", whole.name)
    assert found.path == remote.cache_dir / "REGISTRY" / whole.key
    assert (found.files, found.size) == on_disk(found.path)
    assert found.complete is True
    assert datetime.now(timezone.utc) - found.last_access < timedelta(minutes=5)
    other = by_key[partial.key]
    assert other.complete is False
    assert (other.files, other.size) == on_disk(other.path)  # g.txt plus the manifest and summary read
    assert report.total_files == found.files + other.files
    assert report.total_size == found.size + other.size
    assert repr(found).startswith(f"CachedVersion({whole.key!r}, {found.files} files, ")
    assert (
        repr(report)
        == f"CacheReport(2 versions, {report.total_files} files, {report.total_size / 1024:.1f} KiB)"
    )
    assert whole.key in str(report) and "partial" in str(report)


def test_a_version_whose_file_was_truncated_is_not_complete(
    service: GobblerService, remote: GobblerClient
) -> None:
    version = upload(service, remote)
    directory = version.fetch_directory()
    (directory / "big").write_text("x" * 10)
    assert [v.complete for v in remote.cache.scan().versions] == [False]


def test_verify(service: GobblerService, remote: GobblerClient) -> None:
    bad, good = upload(service, remote), upload(service, remote)
    directory = bad.fetch_directory()
    good.fetch_directory()
    (directory / "f.txt").write_text("FILE CONTENTS")  # same size, other bytes
    (directory / "sub" / "g.txt").write_text("mo")
    (directory / "stray.txt").write_text("?")
    assert remote.cache.verify(project=good.project.name) == []
    wrong = f"MD5 {_md5('FILE CONTENTS')}, the manifest says {_md5('file contents')}"
    expected = [
        CorruptFile(f"{bad.key}/alias", wrong),  # linked in the cache to f.txt, so changed with it
        CorruptFile(f"{bad.key}/f.txt", wrong),
        CorruptFile(f"{bad.key}/stray.txt", "not in the cached manifest"),
        CorruptFile(f"{bad.key}/sub/g.txt", "2 bytes, the manifest says 4"),
    ]
    assert remote.cache.verify() == expected
    assert remote.cache.verify(delete=True, project=bad.project.name, asset="a", version=bad.name) == expected
    assert not (directory / "f.txt").exists() and not (directory / "stray.txt").exists()
    assert remote.cache.verify() == []
    assert (bad.fetch_directory() / "f.txt").read_text() == "file contents"
    assert repr(expected[3]) == f"CorruptFile('{bad.key}/sub/g.txt': 2 bytes, the manifest says 4)"


def _md5(text: str) -> str:
    import hashlib

    return hashlib.md5(text.encode()).hexdigest()


def test_an_unparsable_cached_manifest_is_corrupt(service: GobblerService, remote: GobblerClient) -> None:
    version = upload(service, remote)
    directory = version.fetch_directory()
    (directory / "..manifest").write_text("{not json")
    assert remote.cache.verify(delete=True) == [
        CorruptFile(f"{version.key}/..manifest", "the cached manifest cannot be parsed")
    ]
    assert not (directory / "..manifest").exists()


def test_prune_by_age(service: GobblerService, remote: GobblerClient) -> None:
    old, recent = upload(service, remote), upload(service, remote)
    old_dir, recent_dir = old.fetch_directory(), recent.fetch_directory()
    age(old_dir, 10)
    files, size = on_disk(old_dir)
    assert remote.cache.prune(older_than=30).versions == []
    report = remote.cache.prune(older_than=5)
    assert isinstance(report, PruneReport)
    assert [v.key for v in report.versions] == [old.key]
    assert (report.files, report.freed, report.temporary_files) == (files, size, 0)
    assert not old_dir.exists() and recent_dir.is_dir()
    assert remote.cache.prune(older_than=timedelta(hours=1)).versions == []
    assert repr(report).startswith("PruneReport(1 versions, ")


def test_prune_to_a_size_budget_least_recently_used_first(
    service: GobblerService, remote: GobblerClient
) -> None:
    project = new_project(service)
    versions = [upload(service, remote, project) for _ in range(3)]
    for days, version in zip((3, 1, 2), versions, strict=True):
        age(version.fetch_directory(), days)
    sizes = [v.size for v in sorted(remote.cache.scan().versions, key=lambda v: v.last_access)]
    # The oldest two exceed the budget left by the newest: the oldest goes, then the next one.
    report = remote.cache.prune(max_size=sizes[2])
    assert [v.key for v in report.versions] == [versions[0].key, versions[2].key]
    assert [v.key for v in remote.cache.scan().versions] == [versions[1].key]
    assert remote.cache.prune(max_size=0, project="someone-else").versions == []
    assert [v.key for v in remote.cache.prune(max_size=0, project=project).versions] == [versions[1].key]
    assert remote.cache.scan().versions == []
    assert not (remote.cache_dir / "REGISTRY" / project).exists()  # emptied projects go too


@pytest.mark.parametrize("bad", [{"older_than": "a week"}, {"max_size": -1}, {"max_size": 1.5}])
def test_prune_refuses_bad_arguments(remote: GobblerClient, bad: dict[str, object]) -> None:
    with pytest.raises(InvalidRequestError):
        remote.cache.prune(**bad)  # type: ignore[arg-type]


def test_prune_sweeps_stale_temporary_files(service: GobblerService, remote: GobblerClient) -> None:
    version = upload(service, remote)
    directory = version.fetch_directory()
    stale, fresh = directory / "sub" / ".gobbler-000000000007.part", directory / ".gobbler-000000000008.link"
    stale.write_bytes(b"x" * 100)
    fresh.write_bytes(b"y")
    os.utime(stale, (time.time() - 2 * 86400,) * 2)
    report = remote.cache.prune()
    assert (report.versions, report.files, report.freed, report.temporary_files) == ([], 1, 100, 1)
    assert not stale.exists() and fresh.exists()
    assert (directory / "f.txt").exists()


@pytest.mark.root_only
def test_prune_leaves_other_users_temporary_files(service: GobblerService, remote: GobblerClient) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file to another account")
    directory = upload(service, remote).fetch_directory()
    theirs = directory / ".gobbler-000000000009.part"
    theirs.write_bytes(b"z")
    os.chown(theirs, 65534, 65534)
    os.utime(theirs, (time.time() - 3 * 86400,) * 2)
    assert remote.cache.prune().temporary_files == 0
    assert theirs.exists()


def test_remove(service: GobblerService, remote: GobblerClient, tmp_path: Path) -> None:
    one, two = upload(service, remote), upload(service, remote)
    one_dir, two_dir = one.fetch_directory(), two.fetch_directory()
    size = (one_dir / "big").stat().st_size
    assert remote.cache.remove(f"{one.key}/big") == size
    assert not (one_dir / "big").exists() and (one_dir / "f.txt").exists()
    assert remote.cache.remove(f"{one.key}/big") == 0
    assert remote.cache.remove(one.key) == on_disk(one_dir)[1] or not one_dir.exists()
    assert not one_dir.exists()
    expected = on_disk(two_dir)[1]
    assert remote.cache.remove(two.project.name) == expected
    assert remote.cache.scan().versions == []
    with pytest.raises(UnsafePathError):
        remote.cache.remove("../outside")
    # A symlink planted in the cache is removed as a link; what it points to is not touched.
    outside = make_tree(tmp_path / "outside", {"p/a/v/keep.txt": "keep"})
    os.symlink(outside, remote.cache_dir / "REGISTRY" / "evil")
    os.symlink(outside / "p", remote.cache_dir / "REGISTRY" / "evil2")
    assert remote.cache.scan().versions == []
    assert remote.cache.verify(delete=True) == []
    assert remote.cache.remove("evil") == 0
    assert remote.cache.remove("evil2/a/v") == 0
    assert (outside / "p" / "a" / "v" / "keep.txt").read_text() == "keep"
    assert not (remote.cache_dir / "REGISTRY" / "evil").exists()


def test_an_empty_cache(make_client: Callable[..., GobblerClient], tmp_path: Path) -> None:
    client = make_client("http://127.0.0.1:1", cache=tmp_path / "never-used")
    assert client.cache.scan().versions == []
    assert client.cache.verify() == []
    assert client.cache.prune(older_than=0).versions == []
    assert client.cache.remove("p") == 0
    assert isinstance(CachedVersion, type)
