"""GobblerFileSystem end to end: paths, listings, the latest alias, reads, verification, read-only, pickling.

Every test runs through the mounted registry (``local``) and through the REST API (``remote``).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import fsspec
import pytest

from gobbler_sdk import GobblerClient, GobblerFileSystem, IntegrityError, NotCachedError, ReadOnlyError
from gobbler_sdk.testing import GobblerService

from ..client.support import unique
from .conftest import MANY, PARTS, Dataset
from .support import CountingProxy


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_the_protocol_is_registered(options: dict[str, Any], dataset: Dataset) -> None:
    assert fsspec.get_filesystem_class("gobbler") is GobblerFileSystem
    fs = fsspec.filesystem("gobbler", **options)
    assert isinstance(fs, GobblerFileSystem)
    assert fs is fsspec.filesystem("gobbler", **options)  # fsspec's instance cache
    with fsspec.open(f"gobbler://{dataset.path('v1', 'counts.csv')}", "rb", **options) as handle:
        assert handle.read() == dataset.files["v1"]["counts.csv"]


def test_importing_the_package_does_not_import_fsspec() -> None:
    code = "import sys, gobbler_sdk; gobbler_sdk.GobblerClient; print('fsspec' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"


def test_listings_from_the_root_down(fs: GobblerFileSystem, dataset: Dataset) -> None:
    assert {"name": dataset.project, "size": 0, "type": "directory"} in fs.ls("")
    assert fs.ls(dataset.project, detail=False) == [f"{dataset.project}/data"]
    assert fs.ls(f"gobbler://{dataset.project}/data/", detail=False) == [
        dataset.path(v) for v in ("v1", "v2", "v3")
    ]
    top = fs.ls(dataset.path("v1"))
    names = [info["name"].rsplit("/", 1)[1] for info in top]
    assert names == ["big.parquet", "counts.csv", "many", "nested", "nothing"] + [
        f"part-{i:03d}.csv" for i in range(PARTS)
    ] + ["table.parquet"]
    counts = next(info for info in top if info["name"].endswith("counts.csv"))
    content = dataset.files["v1"]["counts.csv"]
    assert counts["size"] == len(content) and counts["type"] == "file"
    assert counts["md5"] == md5(content) and counts["link"] is None
    assert isinstance(counts["mtime"], float) and counts["mtime"] > 1.6e9
    assert next(info for info in top if info["name"].endswith("/nothing"))["type"] == "directory"
    assert fs.ls(dataset.path("v1", "nested"), detail=False) == [
        dataset.path("v1", "nested/deeper"),
        dataset.path("v1", "nested/top.txt"),
    ]
    assert fs.ls(dataset.path("v1", "nothing")) == []
    # A file lists as itself.
    assert fs.ls(dataset.path("v1", "counts.csv"), detail=False) == [dataset.path("v1", "counts.csv")]


def test_info_exists_isdir_isfile(fs: GobblerFileSystem, dataset: Dataset) -> None:
    assert fs.info("") == {"name": "", "size": 0, "type": "directory"}
    assert fs.info(dataset.project)["type"] == "directory"
    assert fs.isdir(f"{dataset.project}/data") and fs.isdir(dataset.path("v1"))
    assert fs.isdir(dataset.path("v1", "nested/deeper")) and fs.isdir(dataset.path("v1", "nothing"))
    assert fs.isfile(dataset.path("v1", "nested/deeper/note.txt"))
    assert not fs.isfile(dataset.path("v1", "nested"))
    for missing in (
        "no-such-project",
        f"{dataset.project}/no-such-asset",
        dataset.path("v9"),
        dataset.path("v1", "absent.txt"),
        dataset.path("v1", "counts.csv/below"),
        f"{dataset.project}/..permissions",  # not a valid name: nothing can be there
    ):
        assert not fs.exists(missing), missing
        with pytest.raises(FileNotFoundError):
            fs.info(missing)
    with pytest.raises(FileNotFoundError):
        fs.ls(dataset.path("v1", "absent"))
    with pytest.raises(FileNotFoundError):
        fs.cat_file(dataset.path("v1", "absent.txt"))
    with pytest.raises(IsADirectoryError):
        fs.cat_file(dataset.path("v1", "nested"))
    with pytest.raises(IsADirectoryError):
        fs.open(dataset.path("v1"))
    with pytest.raises(FileNotFoundError):
        fs.cat_file("no-such-project")


def test_find_walk_glob_du(fs: GobblerFileSystem, dataset: Dataset) -> None:
    v1 = dataset.files["v1"]
    assert fs.find(dataset.path("v1")) == sorted(dataset.path("v1", p) for p in v1)
    assert fs.find(dataset.path("v1", "nested"), withdirs=True) == [
        dataset.path("v1", "nested"),
        dataset.path("v1", "nested/deeper"),
        dataset.path("v1", "nested/deeper/note.txt"),
        dataset.path("v1", "nested/top.txt"),
    ]
    assert fs.find(dataset.path("v1", "nested"), maxdepth=1) == [dataset.path("v1", "nested/top.txt")]
    detailed = fs.find(dataset.path("v1", "many"), detail=True)
    assert len(detailed) == MANY and all(info["type"] == "file" for info in detailed.values())
    assert fs.find(dataset.path("v1", "counts.csv")) == [dataset.path("v1", "counts.csv")]
    assert fs.find(dataset.path("v1", "absent")) == []
    # Above versions, find walks the listings.
    assert set(fs.find(f"{dataset.project}/data")) == {
        dataset.path(v, p) for v in ("v1", "v2", "v3") for p in dataset.files[v]
    }
    walked = list(fs.walk(dataset.path("v1", "nested")))
    assert walked == [
        (dataset.path("v1", "nested"), ["deeper"], ["top.txt"]),
        (dataset.path("v1", "nested/deeper"), [], ["note.txt"]),
    ]
    assert fs.glob(dataset.path("v1", "part-*.csv")) == [
        dataset.path("v1", f"part-{i:03d}.csv") for i in range(PARTS)
    ]
    assert fs.glob(dataset.path("v1", "**/*.txt")) == [
        dataset.path("v1", "nested/deeper/note.txt"),
        dataset.path("v1", "nested/top.txt"),
    ]
    assert fs.glob(f"gobbler://{dataset.project}/data/v*/counts.csv") == [
        dataset.path(v, "counts.csv") for v in ("v1", "v2", "v3")
    ]
    assert fs.du(dataset.path("v1")) == sum(len(content) for content in v1.values())
    assert fs.du(dataset.path("v1", "many"), total=False) == {
        dataset.path("v1", p): len(c) for p, c in v1.items() if p.startswith("many/")
    }


def test_checksum_ukey_and_modified(fs: GobblerFileSystem, dataset: Dataset) -> None:
    content = dataset.files["v1"]["counts.csv"]
    path = dataset.path("v1", "counts.csv")
    assert fs.ukey(path) == md5(content)
    assert fs.checksum(path) == int(md5(content), 16)
    summary = fs.client.project(dataset.project).asset("data").version("v1").summary()
    assert fs.modified(path) == summary.upload_finish
    assert fs.modified(dataset.path("v1")) == summary.upload_finish
    with pytest.raises(NotImplementedError):
        fs.modified(dataset.project)


def test_links_are_reported(
    fs: GobblerFileSystem, dataset: Dataset, service: GobblerService, tmp_path: Path
) -> None:
    # The same bytes uploaded twice: the second version holds a link to the first one's file.
    asset = unique("linked")
    with GobblerClient(service.url, transport="remote", cache=tmp_path / "c") as client:
        source = tmp_path / "src"
        source.mkdir()
        (source / "same.csv").write_bytes(dataset.files["v1"]["counts.csv"])
        client.project(dataset.project).asset(asset).upload("one", source)
        client.project(dataset.project).asset(asset).upload("two", source)
    info = fs.info(f"{dataset.project}/{asset}/two/same.csv")
    assert info["link"] == f"{dataset.project}/{asset}/one/same.csv"
    assert info["size"] == len(dataset.files["v1"]["counts.csv"])
    assert fs.cat_file(f"{dataset.project}/{asset}/two/same.csv") == dataset.files["v1"]["counts.csv"]


def test_the_latest_alias(fs: GobblerFileSystem, dataset: Dataset) -> None:
    latest = f"{dataset.project}/data/..latest"
    # v3 is probational, so the latest version is v2.
    assert fs.cat_file(f"{latest}/counts.csv") == dataset.files["v2"]["counts.csv"]
    assert fs.ls(latest, detail=False) == [f"{latest}/counts.csv", f"{latest}/nested", f"{latest}/nothing"]
    assert fs.info(f"{latest}/nested/top.txt")["md5"] == md5(dataset.files["v2"]["nested/top.txt"])
    assert fs.glob(f"gobbler://{latest}/*.csv") == [f"{latest}/counts.csv"]
    assert fs.isdir(latest)
    # The alias is not listed among the versions, and an asset without a latest version has none.
    assert f"{latest}" not in fs.ls(f"{dataset.project}/data", detail=False)
    with pytest.raises(FileNotFoundError):
        fs.info(f"{dataset.project}/no-such-asset/..latest/counts.csv")


def test_cat_file_ranges(fs: GobblerFileSystem, dataset: Dataset) -> None:
    path = dataset.path("v1", "many/file-010.bin")
    content = dataset.files["v1"]["many/file-010.bin"]
    assert fs.cat_file(path) == content
    assert fs.cat_file(path, 100, 200) == content[100:200]
    assert fs.cat_file(path, -50) == content[-50:]
    assert fs.cat_file(path, 10, -10) == content[10:-10]
    assert fs.cat_file(path, len(content) - 5, len(content) + 100) == content[-5:]
    assert fs.cat_file(path, len(content) + 10) == b""
    assert fs.cat_file(path, 30, 20) == b""
    assert fs.cat(dataset.path("v1", "nested/*.txt")) == {dataset.path("v1", "nested/top.txt"): b"top\n"}
    ranges = fs.cat_ranges([path, path], [0, 500], [10, 510])
    assert ranges == [content[0:10], content[500:510]]
    # The same through the handle API.
    version = fs.client.project(dataset.project).asset("data").version("v1")
    assert version.read_bytes("many/file-010.bin", 5, 15) == content[5:15]
    assert version.read_bytes("many/file-010.bin") == content
    with pytest.raises(ValueError):
        version.read_bytes("many/file-010.bin", -1)


def test_open_is_seekable_and_block_cached(fs: GobblerFileSystem, dataset: Dataset) -> None:
    content = dataset.files["v1"]["big.parquet"]
    with fs.open(dataset.path("v1", "big.parquet"), "rb", block_size=64 * 1024) as handle:
        assert handle.size == len(content) and handle.seekable()
        assert handle.read(4) == b"PAR1"
        handle.seek(-8, os.SEEK_END)
        assert handle.read() == content[-8:]
        handle.seek(1_000_000)
        assert handle.read(10) == content[1_000_000:1_000_010]
        assert handle.tell() == 1_000_010
        assert handle.read(100) == content[1_000_010:1_000_110]  # served from the cached block
        assert handle.cache.hit_count >= 1
    with fsspec.open(f"gobbler://{dataset.path('v1', 'nested/top.txt')}", "r", **_options(fs)) as text:
        assert text.readline() == "top\n"


def _options(fs: GobblerFileSystem) -> dict[str, Any]:
    return dict(fs.storage_options)


def test_get_downloads_verified_copies(fs: GobblerFileSystem, dataset: Dataset, tmp_path: Path) -> None:
    fs.get(dataset.path("v1", "nested") + "/", str(tmp_path / "out"), recursive=True)
    assert (tmp_path / "out/top.txt").read_bytes() == b"top\n"
    assert (tmp_path / "out/deeper/note.txt").read_bytes() == dataset.files["v1"]["nested/deeper/note.txt"]
    fs.get_file(dataset.path("v1", "counts.csv"), str(tmp_path / "one/counts.csv"))
    assert (tmp_path / "one/counts.csv").read_bytes() == dataset.files["v1"]["counts.csv"]


def test_whole_file_reads_are_verified_partial_reads_cannot_be(
    options: dict[str, Any], service: GobblerService, dataset: Dataset, tmp_path: Path
) -> None:
    # A file altered in the registry after its upload: same size, other bytes.
    asset = unique("tampered")
    content = b"0123456789" * 100
    with GobblerClient(service.url, transport="remote", cache=tmp_path / "c") as client:
        (tmp_path / "src").mkdir()
        (tmp_path / "src/f.bin").write_bytes(content)
        client.project(dataset.project).asset(asset).upload("v1", tmp_path / "src")
        target = Path(client.registry) / dataset.project / asset / "v1/f.bin"
    os.chmod(target, 0o644)
    target.write_bytes(b"X" + content[1:])
    fs = GobblerFileSystem(**options, skip_instance_cache=True)
    path = f"{dataset.project}/{asset}/v1/f.bin"
    with pytest.raises(IntegrityError, match="MD5"):
        fs.cat_file(path)
    with pytest.raises(IntegrityError), fs.open(path, "rb") as handle:
        handle.read()
    with pytest.raises(IntegrityError):
        fs.get_file(path, str(tmp_path / "copy.bin")) if options["transport"] == "remote" else fs.cat(path)
    assert fs.cat_file(path, 1, 11) == content[1:11]  # a part cannot be checked, so it is served
    # A file whose size changed fails even a partial read: the size is known from the manifest.
    with open(target, "ab") as grown:
        grown.write(b"more")
    with pytest.raises(IntegrityError, match="manifest records 1000 bytes, the file has 1004"):
        fs.cat_file(path, 1, 11)


def test_writing_is_refused_and_deletes_nothing(
    fs: GobblerFileSystem, dataset: Dataset, tmp_path: Path
) -> None:
    path = dataset.path("v1", "counts.csv")
    local = tmp_path / "x.txt"
    local.write_text("x")
    attempts = [
        lambda: fs.open(dataset.path("v1", "new.txt"), "wb"),
        lambda: fs.open(path, "w"),
        lambda: fs.open(path, "ab"),
        lambda: fs.pipe_file(dataset.path("v1", "new.txt"), b"x"),
        lambda: fs.put(str(local), dataset.path("v1", "x.txt")),
        lambda: fs.put_file(str(local), dataset.path("v1", "x.txt")),
        lambda: fs.rm(path),
        lambda: fs.rm(dataset.path("v1"), recursive=True),
        lambda: fs.rm_file(path),
        lambda: fs.rmdir(dataset.path("v1", "nothing")),
        lambda: fs.mkdir(dataset.path("v1", "new")),
        lambda: fs.makedirs(dataset.path("v1", "new/deeper"), exist_ok=True),
        lambda: fs.touch(dataset.path("v1", "new.txt")),
        lambda: fs.mv(path, dataset.path("v1", "moved.csv")),
        lambda: fs.copy(path, dataset.path("v1", "copied.csv")),
    ]
    for attempt in attempts:
        with pytest.raises(ReadOnlyError, match=r"Asset\.upload") as caught:
            attempt()
        assert isinstance(caught.value, PermissionError) and caught.value.errno == 30  # EROFS
    assert fs.cat_file(path) == dataset.files["v1"]["counts.csv"]
    fresh = GobblerFileSystem(**_options(fs), skip_instance_cache=True)
    assert fresh.find(dataset.path("v1")) == sorted(dataset.path("v1", p) for p in dataset.files["v1"])


def test_pickling_keeps_the_instance_and_works_elsewhere(fs: GobblerFileSystem, dataset: Dataset) -> None:
    assert pickle.loads(pickle.dumps(fs)) is fs
    code = (
        "import pickle, sys; fs = pickle.loads(sys.stdin.buffer.read()); "
        f"sys.stdout.buffer.write(fs.cat_file({dataset.path('v1', 'nested/top.txt')!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], input=pickle.dumps(fs), capture_output=True, timeout=60, check=True
    )
    assert result.stdout == b"top\n"


def test_a_given_client_is_used_and_never_shared(options: dict[str, Any], dataset: Dataset) -> None:
    with (
        GobblerClient(options["service_url"], transport=options["transport"], cache=options["cache"]) as one,
        GobblerClient(options["service_url"], transport=options["transport"], cache=options["cache"]) as two,
    ):
        first, second = GobblerFileSystem(client=one), GobblerFileSystem(client=two)
        assert first is not second and first.client is one and second.client is two
        assert first.cat_file(dataset.path("v1", "nested/top.txt")) == b"top\n"
    with pytest.raises(TypeError):
        GobblerFileSystem(client=one, transport="remote")
    with pytest.raises(TypeError):
        GobblerFileSystem(no_such_option=1, skip_instance_cache=True)


def test_environment_variables_configure_it(
    service: GobblerService, dataset: Dataset, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOBBLER_URL", service.url)
    monkeypatch.setenv("GOBBLER_CACHE", str(tmp_path / "env-cache"))
    with fsspec.open(f"gobbler://{dataset.path('v1', 'nested/top.txt')}", "rb", transport="remote") as handle:
        assert handle.read() == b"top\n"


def test_a_settled_version_is_listed_from_one_manifest(
    service: GobblerService, dataset: Dataset, tmp_path: Path
) -> None:
    with CountingProxy(service.url) as proxy:
        fs = GobblerFileSystem(
            url=proxy.url, transport="remote", cache=str(tmp_path / "cache"), skip_instance_cache=True
        )
        base = dataset.path("v1")
        fs.ls(base)
        walked = list(fs.walk(base))
        assert len(walked) == 5  # the version, many, nested, nested/deeper, nothing
        fs.find(base, withdirs=True)
        fs.glob(f"{base}/**/*.txt")
        fs.du(base)
        for path in dataset.files["v1"]:
            fs.info(f"{base}/{path}")
        assert sorted(proxy.requests) == sorted([f"/fetch/{base}/..summary", f"/fetch/{base}/..manifest"])
        # A probational version's tree is read again each time (it may still change), never through /list.
        proxy.reset()
        fs.find(dataset.path("v3"))
        fs.find(dataset.path("v3"))
        assert proxy.requests and not [r for r in proxy.requests if r.startswith("/list")]


def test_a_sequential_scan_needs_few_requests(
    service: GobblerService, dataset: Dataset, tmp_path: Path
) -> None:
    content = dataset.files["v1"]["big.parquet"]
    with CountingProxy(service.url) as proxy:
        fs = GobblerFileSystem(
            proxy.url, transport="remote", cache=str(tmp_path / "c"), skip_instance_cache=True
        )
        path = dataset.path("v1", "big.parquet")
        fs.info(path)
        proxy.reset()
        received = bytearray()
        with fs.open(path, "rb", block_size=64 * 1024) as handle:
            while piece := handle.read(64 * 1024):
                received += piece
            # After a seek the read-ahead starts small again.
            handle.seek(1000)
            assert handle.read(10) == content[1000:1010]
        assert bytes(received) == content
        # 15 MB in 64 KiB reads: the read-ahead doubles up to 16 MiB, so a handful of requests, not ~240.
        scan = proxy.requests[:-1]
        assert 3 <= len(scan) <= 10, proxy.requests
        assert proxy.sent < len(content) + 64 * 1024 + 200 * 2 * len(proxy.requests)


def test_offline_reads_come_from_the_cache(service: GobblerService, dataset: Dataset, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    online = GobblerFileSystem(service.url, transport="remote", cache=cache, skip_instance_cache=True)
    path = dataset.path("v1", "many/file-003.bin")
    content = dataset.files["v1"]["many/file-003.bin"]
    online.get_file(path, str(tmp_path / "copy.bin"))  # fetched into the cache, verified
    offline = GobblerFileSystem(
        service.url, transport="remote", cache=cache, offline=True, skip_instance_cache=True
    )
    assert offline.cat_file(path, 10, 20) == content[10:20]
    assert offline.cat_file(path) == content
    assert offline.info(path)["md5"] == md5(content)  # the settled version's manifest is cached too
    with pytest.raises(NotCachedError):
        offline.cat_file(dataset.path("v1", "many/file-004.bin"), 0, 10)
