"""Trees 2,000 levels deep in the SDK's staging code and in the cache manager (issue 19, "Deep trees").

``shutil.rmtree`` and ``os.fwalk`` recurse once per level and raise :class:`RecursionError` (not an
``OSError``) a little over 1,000 levels down; paths pass ``PATH_MAX`` sooner still. Trees are built here
through directory descriptors, as a hostile neighbour would. Uploads go to a service of this module, on
directories this module removes itself (``rm -rf``), so the shared session service is never left holding a
deep version.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gobbler_sdk import Asset, GobblerClient, InvalidRequestError
from gobbler_sdk._staging import COPY_MARKER, WRITING_PREFIX, StagingCopy, sweep_abandoned
from gobbler_sdk.testing import GobblerService

from ..conftest import GOBBLER_BINARY
from .support import make_tree, me, unique

DEPTH = 2000
PATH_MAX = 4096
#: Where the trees are built: creating 2,000 nested directories takes ~2 s on a busy ext4 and ~10 ms in
#: memory, for every tree and every copy of it.
SCRATCH = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()


def deep_chain(top: Path, name: str, depth: int = DEPTH, leaf: bytes = b"leaf") -> str:
    """Create ``top/name/name/.../leaf.txt`` (``depth`` directories) through descriptors; return its path."""
    top.mkdir(parents=True, exist_ok=True)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        out = os.open("leaf.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
        os.write(out, leaf)
        os.close(out)
    finally:
        os.close(fd)
    return "/".join([name] * depth + ["leaf.txt"])


def remove_all(path: Path) -> None:
    # GNU rm walks without recursion limits; the test's own cleanup must not depend on the code under test.
    subprocess.run(["rm", "-rf", "--", str(path)], check=True)


@pytest.fixture(scope="module")
def deep_service() -> Iterator[GobblerService]:
    base = Path(tempfile.mkdtemp(prefix="deep-", dir=SCRATCH))
    staging, registry = base / "s", base / "r"
    staging.mkdir()
    staging.chmod(0o1777)
    registry.mkdir()
    try:
        with GobblerService(staging, registry, admin=[me()], binary=GOBBLER_BINARY) as running:
            yield running
    finally:
        remove_all(base)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A scratch directory with a short path (2,000 one-letter levels stay within PATH_MAX below it)."""
    made = Path(tempfile.mkdtemp(prefix="d", dir=SCRATCH))
    yield made
    remove_all(made)


@pytest.fixture
def asset(deep_service: GobblerService, make_client: Callable[..., GobblerClient]) -> Asset:
    """Asset ``a`` of a fresh project on the module's service."""
    client = make_client(deep_service.url)
    project = unique("deep")
    client.create_project(project)
    return client.project(project).asset("a")


def leftovers(staging: Path) -> list[str]:
    return sorted(
        name for name in os.listdir(staging) if name.startswith(("upload-", "request-", WRITING_PREFIX))
    )


def test_a_deep_tree_uploads_and_its_staging_copy_is_removed(
    deep_service: GobblerService, asset: Asset, short_tmp: Path
) -> None:
    leaf = deep_chain(short_tmp / "src", "d")

    version = asset.upload("v1", short_tmp / "src")

    entry = version.manifest()[leaf]
    assert (entry.size, entry.md5sum) == (4, hashlib.md5(b"leaf").hexdigest())
    assert leftovers(deep_service.staging) == []


def test_a_failed_deep_upload_is_reported_typed_and_cleaned_up(
    deep_service: GobblerService, asset: Asset, short_tmp: Path
) -> None:
    asset.upload("v1", make_tree(short_tmp / "small", {"x.txt": "x"}))
    deep_chain(short_tmp / "src", "d")

    with pytest.raises(InvalidRequestError, match="already exists"):
        asset.upload("v1", short_tmp / "src")

    assert leftovers(deep_service.staging) == []


def test_a_source_beyond_path_max_is_refused_typed(
    deep_service: GobblerService, asset: Asset, short_tmp: Path
) -> None:
    leaf = deep_chain(short_tmp / "src", "dd")
    assert len(leaf) > PATH_MAX
    with pytest.raises(InvalidRequestError, match="longer than the system allows") as caught:
        asset.upload("v1", short_tmp / "src")
    assert "refuse 1 entry" in str(caught.value) and len(str(caught.value)) < 500
    assert leftovers(deep_service.staging) == []


def test_a_staging_copy_beyond_path_max_is_removed(short_tmp: Path) -> None:
    staging = short_tmp / "staging"
    staging.mkdir()
    copy = StagingCopy(staging)
    assert len(deep_chain(copy.path, "dd")) > PATH_MAX
    copy.remove()
    assert os.listdir(staging) == []


def test_abandoned_deep_copies_and_half_written_requests_are_swept(short_tmp: Path) -> None:
    staging = short_tmp / "staging"
    staging.mkdir()
    copy = staging / "upload-0123456789abcdef"
    copy.mkdir()
    (copy / COPY_MARKER).write_bytes(b"")
    deep_chain(copy, "dd")
    half = staging / f"{WRITING_PREFIX}upload-0123"
    half.write_text('{"proj')
    fresh = staging / f"{WRITING_PREFIX}upload-4567"
    fresh.write_text("{")
    held = os.open(fresh, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)  # being written by a live process
    old = time.time() - 3 * 86400
    for path in (copy / COPY_MARKER, copy, half, fresh):
        os.utime(path, (old, old))
    try:
        assert sweep_abandoned(staging, older_than=86400) == 2
    finally:
        os.close(held)
    assert os.listdir(staging) == [fresh.name]


# ---------------------------------------------------------------------- the cache manager


@pytest.fixture
def cached(
    deep_service: GobblerService, make_client: Callable[..., GobblerClient], short_tmp: Path
) -> tuple[GobblerClient, str, Path]:
    """A remote client whose cache holds a version; returns it, the version's key and its cache directory."""
    client = make_client(deep_service.url, transport="remote", cache=short_tmp / "cache")
    project = unique("deep")
    client.create_project(project)
    source = make_tree(deep_service.staging / unique("src"), {"f.txt": "file", "sub/g.txt": "gg"})
    deep_service.request("upload", {"source": source.name, "project": project, "asset": "a", "version": "v1"})
    version = client.project(project).asset("a").version("v1")
    return client, version.key, version.fetch_directory()


def plant(directory: Path) -> str:
    """Plant a chain beyond PATH_MAX in a cached version (as another process might); return its leaf."""
    leaf = "deep/" + deep_chain(directory / "deep", "dd", leaf=b"planted")
    assert len(leaf) > PATH_MAX
    return leaf


def on_disk(directory: Path) -> tuple[int, int]:
    """Files below a (shallow) cached version and their bytes."""
    sizes = [os.lstat(os.path.join(d, f)).st_size for d, _, files in os.walk(directory) for f in files]
    return len(sizes), sum(sizes)


def test_every_cache_command_handles_a_deep_tree(cached: tuple[GobblerClient, str, Path]) -> None:
    client, key, directory = cached
    files, size = on_disk(directory)
    leaf = plant(directory)

    report = client.cache.scan()
    (only,) = [v for v in report.versions if v.key == key]
    assert (only.files, only.size, only.complete, report.skipped) == (files + 1, size + 7, True, [])

    corrupt = client.cache.verify()
    assert [(c.path, c.reason) for c in corrupt] == [(f"{key}/{leaf}", "not in the cached manifest")]
    assert [c.path for c in client.cache.verify(delete=True)] == [f"{key}/{leaf}"]
    assert client.cache.verify() == []
    # verify removes the file; the directories above it go with a removal.
    assert client.cache.remove(f"{key}/deep") == 0
    assert not (directory / "deep").exists()

    plant(directory)
    assert client.cache.remove(f"{key}/deep") == 7

    plant(directory)
    pruned = client.cache.prune(max_size=0)
    assert [v.key for v in pruned.versions] == [key] and pruned.skipped == []
    assert pruned.freed == size + 7
    assert not directory.exists()

    project = key.split("/")[0]
    directory = client.project(project).asset("a").version("v1").fetch_directory()
    files, size = on_disk(directory)
    plant(directory)
    assert client.cache.remove(project) == size + 7
    assert not directory.exists()
    assert client.cache.scan().versions == []
