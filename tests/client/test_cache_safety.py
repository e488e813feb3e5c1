"""Downloads that fail to land, clients killed mid-download, and directories swapped for symlinks."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient, UnsafePathError
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import Answer, LyingServer, make_tree, snapshot, unique

LISTING = "/list?path=p%252Fa%252Fv&recursive=true"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def serve(lying: LyingServer, files: dict[str, bytes], listing: list[str]) -> None:
    lying.json("/fetch/p/a/v/..manifest", {n: {"size": len(b), "md5sum": md5(b)} for n, b in files.items()})
    lying.json("/fetch/p/a/v/..summary", {"upload_user_id": "u", "upload_start": "2024-01-01T00:00:00Z"})
    lying.json(LISTING, listing)
    for name, body in files.items():
        lying.answer(f"/fetch/p/a/v/{name}", Answer(body=body, content_type="text/plain"))


@pytest.fixture
def liar(lying: LyingServer, make_client: Callable[..., GobblerClient], tmp_path: Path) -> GobblerClient:
    return make_client(lying.url, transport="remote", registry="/nowhere", retries=0)


def temporary_files(root: Path) -> list[str]:
    return [p for p in snapshot(root) if os.path.basename(p).startswith(".gobbler-")]


LONG = "n" * 300


@pytest.mark.parametrize(
    ("files", "listing"),
    [
        ({"a": b"1", "a/b": b"2"}, ["a", "a/b"]),
        ({"a/b": b"2", "a": b"1"}, ["a/b", "a"]),
        ({f"{LONG}.txt": b"1"}, [f"{LONG}.txt"]),
        ({f"{LONG}/x": b"1"}, [f"{LONG}/x"]),
    ],
    ids=["file-then-dir", "dir-then-file", "long-file-name", "long-directory-name"],
)
def test_listings_the_cache_cannot_hold_fail_before_downloading(
    lying: LyingServer, liar: GobblerClient, tmp_path: Path, files: dict[str, bytes], listing: list[str]
) -> None:
    serve(lying, files, ["..manifest", *listing])
    with pytest.raises(UnsafePathError):
        liar.fetch_directory("p/a/v")
    assert not any(p.startswith("/fetch/p/a/v/a") or LONG in p for p in lying.paths("/fetch/"))
    assert temporary_files(tmp_path / "cache") == []


def test_a_long_name_is_refused_before_a_request(
    lying: LyingServer, liar: GobblerClient, tmp_path: Path
) -> None:
    serve(lying, {f"{LONG}.txt": b"1"}, ["..manifest", f"{LONG}.txt"])
    with pytest.raises(UnsafePathError, match="longer than 255 bytes"):
        liar.fetch_file(f"p/a/v/{LONG}.txt")
    assert lying.count(f"/fetch/p/a/v/{LONG}.txt") == 0
    assert temporary_files(tmp_path / "cache") == []


def test_a_failed_commit_is_typed_and_leaves_no_temporary_file(
    lying: LyingServer, liar: GobblerClient, tmp_path: Path
) -> None:
    serve(lying, {"f.txt": b"0123456789"}, ["..manifest", "f.txt"])
    (tmp_path / "cache" / "REGISTRY" / "p" / "a" / "v" / "f.txt").mkdir(parents=True)  # in the way
    with pytest.raises(UnsafePathError, match="cannot store it"):
        liar.fetch_file("p/a/v/f.txt")
    assert lying.count("/fetch/p/a/v/f.txt") == 1  # received, then refused at the rename
    assert temporary_files(tmp_path / "cache") == []
    with pytest.raises(UnsafePathError):
        liar.fetch_directory("p/a/v")
    assert temporary_files(tmp_path / "cache") == []


# ---------------------------------------------------------------------- a client killed mid-download

KILLED = textwrap.dedent(
    """
    import sys, time
    from tqdm import tqdm
    from gobbler_sdk import GobblerClient

    class Stall(tqdm):
        def update(self, n=1):
            print("RECEIVING", flush=True)
            time.sleep(60)

    url, cache, key = sys.argv[1:4]
    client = GobblerClient(url, transport="remote", cache=cache)
    client.fetch_file(key, tqdm_class=Stall)
    """
)


@pytest.fixture
def big_version(service: GobblerService) -> str:
    name = new_project(service)
    source = make_tree(service.staging / unique("src"), {"big.bin": b"z" * (8 << 20), "small.txt": "s"})
    service.request("upload", {"source": source.name, "project": name, "asset": "a", "version": "v1"})
    return f"{name}/a/v1"


def test_a_killed_download_leaves_nothing_valid_and_is_swept(
    service: GobblerService, big_version: str, make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED, service.url, str(cache), f"{big_version}/big.bin"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"RECEIVING\n"  # a first chunk is written, the rest not yet
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    directory = cache / "REGISTRY" / big_version
    left = [directory / p for p in temporary_files(directory)]
    # 8 MiB is large enough to be resumable: the kept partial file has a stable name (see test_resume.py).
    assert [p.name for p in left] == [".gobbler-big.bin.incomplete"]
    assert 0 < left[0].stat().st_size < 8 << 20
    assert not (directory / "big.bin").exists()

    client = make_client(service.url, transport="remote", cache=cache)
    found = client.cache.scan().versions
    # Only the manifest: a first fetch_file does not ask for the summary (one round trip less).
    assert [(v.key, v.complete, v.files) for v in found] == [(big_version, False, 1)]
    assert found[0].size == os.path.getsize(directory / "..manifest")
    assert client.cache.verify() == []
    # Fresh: left alone by a prune and by the next download, which may be running in another process.
    assert client.cache.prune().temporary_files == 0
    version = client.project(big_version.split("/")[0]).asset("a").version("v1")
    version.fetch_directory()
    # The directory download resumed the kept file (see test_resume.py): it became big.bin.
    assert not left[0].exists()
    assert (directory / "big.bin").read_bytes() == b"z" * (8 << 20)
    # A leftover older than a day that nothing resumes (small files are not resumable): the next download
    # of the directory takes it away, as a prune would.
    stale = directory / ".gobbler-small.txt.incomplete"
    stale.write_bytes(b"s")
    os.utime(stale, (time.time() - 2 * 86400,) * 2)
    version.fetch_directory(overwrite=True)
    assert temporary_files(cache) == []
    assert [v.complete for v in client.cache.scan().versions] == [True]


# ---------------------------------------------------------------------- symlinks swapped in later


@pytest.mark.parametrize("how", ["moved-away", "deleted"])
def test_a_directory_swapped_for_a_symlink_receives_nothing(
    service: GobblerService, make_client: Callable[..., GobblerClient], tmp_path: Path, how: str
) -> None:
    name = new_project(service)
    source = make_tree(service.staging / unique("src"), {"f.txt": "one", "g.txt": "two", "sub/h.txt": "3"})
    service.request("upload", {"source": source.name, "project": name, "asset": "a", "version": "v1"})
    client = make_client(service.url, transport="remote")
    version = client.project(name).asset("a").version("v1")
    version.fetch("f.txt")  # the version's cache directory has been checked and is in use

    # The neighbour swaps it for a symlink to a directory of the victim's choosing... of theirs.
    victim_target = tmp_path / "target"
    victim_target.mkdir()
    cached = client.cache_dir / "REGISTRY" / name / "a" / "v1"
    if how == "moved-away":
        cached.rename(tmp_path / "moved")
    else:
        shutil.rmtree(cached)
    os.symlink(victim_target, cached)

    with contextlib.suppress(UnsafePathError):
        version.fetch("g.txt")
    with contextlib.suppress(UnsafePathError):
        version.fetch_directory()
    assert os.listdir(victim_target) == []
    if how == "deleted":
        with pytest.raises(UnsafePathError):
            version.fetch("sub/h.txt")
    assert os.listdir(victim_target) == []


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A directory other accounts can reach (pytest's own temporary directories are private)."""
    made = Path(tempfile.mkdtemp(prefix="gobbler-shared-cache-"))
    os.chmod(made, 0o755)
    yield made
    shutil.rmtree(made, ignore_errors=True)


@pytest.mark.root_only
def test_a_swap_by_another_account_receives_nothing(
    service: GobblerService, make_client: Callable[..., GobblerClient], public_dir: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to run the neighbour as another account")
    tmp_path = public_dir
    name = new_project(service)
    source = make_tree(service.staging / unique("src"), {"f.txt": "one", "g.txt": "two"})
    service.request("upload", {"source": source.name, "project": name, "asset": "a", "version": "v1"})
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    client = make_client(service.url, transport="remote", cache=shared)
    version = client.project(name).asset("a").version("v1")
    version.fetch("f.txt")
    registry = shared / "REGISTRY"
    for directory in (registry, registry / name, registry / name / "a"):
        os.chmod(directory, 0o777)  # a cache shared carelessly: anyone may rename inside it
    loot = tmp_path / "loot"
    loot.mkdir()
    os.chown(loot, 65534, 65534)
    target = registry / name / "a" / "v1"
    pid = os.fork()
    if pid == 0:  # the neighbour, as nobody
        code = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            os.rename(target, target.with_name("v1-old"))  # same parent: no write access to v1 needed
            os.symlink(loot, target)
            code = 0
        finally:
            os._exit(code)
    assert os.waitpid(pid, 0)[1] == 0
    assert (registry / name / "a" / "v1").is_symlink()
    with contextlib.suppress(UnsafePathError):
        version.fetch("g.txt")
    # The bytes went to the directory the client had opened, never through the link.
    assert os.listdir(loot) == []
    assert (target.with_name("v1-old") / "g.txt").read_text() == "two"
    fresh = make_client(service.url, transport="remote", cache=shared)
    with pytest.raises(UnsafePathError):
        fresh.project(name).asset("a").version("v1").fetch("g.txt", overwrite=True)
    assert os.listdir(loot) == []
