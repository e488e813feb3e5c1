"""One acceptance suite of reads, run unchanged over every transport.

The local and remote transports ship with the SDK; the third is the worked example of "Writing a transport"
(examples/mirror_transport.py), written against the documented protocol only, reading a copy of the registry
kept at another path. Every read a user can make must give the same answer through each of them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from gobbler_sdk import GobblerClient, GobblerFileSystem, NotFoundError, Version
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import make_tree, unique

FILES = {
    "a.txt": "alpha\n",
    "tables/x.csv": "k,v\n1,2\n3,4\n",
    "tables/y.csv": "k\n9\n",
    "deep/er/z.bin": "z" * 300,
}


def _example() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "examples" / "mirror_transport.py"
    spec = importlib.util.spec_from_file_location("mirror_transport", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("mirror_transport", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def uploaded(service: GobblerService, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A project with v1 (files, an empty directory) and v2 (one file changed, the rest linked to v1)."""
    name = new_project(service)
    first = make_tree(service.staging / unique("src"), FILES)
    (first / "empty").mkdir()
    service.request("upload", {"source": first.name, "project": name, "asset": "a", "version": "v1"})
    second = make_tree(service.staging / unique("src"), {**FILES, "a.txt": "beta\n"})
    service.request("upload", {"source": second.name, "project": name, "asset": "a", "version": "v2"})
    mirror = tmp_path_factory.mktemp("mirror") / "registry"
    # A copy elsewhere, links dereferenced, the journal left out: what a backup of the registry holds.
    shutil.copytree(service.registry, mirror, ignore=shutil.ignore_patterns("..logs"))
    return name, mirror


@pytest.fixture(params=["local", "remote", "mirror"])
def reader(
    request: pytest.FixtureRequest, service: GobblerService, uploaded: tuple[str, Path], tmp_path: Path
) -> Iterator[GobblerClient]:
    transport = _example().MirrorTransport(uploaded[1]) if request.param == "mirror" else request.param
    with GobblerClient(service.url, transport=transport, cache=tmp_path / "cache") as client:
        yield client


@pytest.fixture
def v1(reader: GobblerClient, uploaded: tuple[str, Path]) -> Version:
    return reader.project(uploaded[0]).asset("a").version("v1")


def test_listings_and_documents(reader: GobblerClient, v1: Version, service: GobblerService) -> None:
    project = v1.project
    assert project in reader.projects()
    assert [a.name for a in project.assets()] == ["a"]
    assert [v.name for v in v1.asset.versions()] == ["v1", "v2"]
    latest = v1.asset.latest()
    assert latest is not None and latest.name == "v2"
    stored = json.loads((service.registry / v1.key / "..manifest").read_text())
    assert {path: (e.size, e.md5sum) for path, e in v1.manifest().items()} == {
        path: (e["size"], e["md5sum"]) for path, e in stored.items()
    }
    assert v1.summary().on_probation is False
    assert v1.project.permissions().owners
    assert project.usage() > 0
    assert v1.files(include_dotdot=False) == ["a.txt", "deep/er/z.bin", "tables/x.csv", "tables/y.csv"]
    assert reader.listing(v1.key, recursive=True) == [
        "..manifest",
        "..summary",
        "a.txt",
        "deep/er/z.bin",
        "tables/x.csv",
        "tables/y.csv",
        "empty/",
    ]
    assert json.loads(reader.read_document(f"{project.name}/..permissions"))["owners"]
    assert json.loads(v1.read_document("..summary"))["upload_user_id"] == v1.summary().upload_user_id
    with pytest.raises(NotFoundError, match=r"asset .*/missing does not exist"):
        project.asset("missing").version("v1").manifest()


def test_files_ranges_and_streams(reader: GobblerClient, v1: Version, uploaded: tuple[str, Path]) -> None:
    assert v1.fetch("a.txt").read_text() == "alpha\n"
    assert reader.fetch_file(f"{v1.key}/tables/x.csv", verify=False).read_text() == FILES["tables/x.csv"]
    assert v1.read_bytes("tables/x.csv", 4, 7) == b"1,2"
    assert reader.read_range(f"{v1.key}/deep/er/z.bin") == b"z" * 300
    with v1.open("tables/y.csv") as handle:
        assert handle.read() == b"k\n9\n"
    v2 = v1.asset.version("v2")
    # A file v2 links to v1 reads the same through every transport.
    assert v2.manifest()["tables/x.csv"].link is not None
    assert v2.fetch("tables/x.csv").read_text() == FILES["tables/x.csv"]
    assert v2.read_bytes("a.txt") == b"beta\n"
    with pytest.raises(NotFoundError):
        v1.fetch("nope.txt")


def test_directories(reader: GobblerClient, v1: Version, tmp_path: Path) -> None:
    whole = v1.fetch_directory()
    assert (whole / "deep" / "er" / "z.bin").read_bytes() == b"z" * 300
    assert (whole / "empty").is_dir()
    csv = v1.fetch_directory(local_dir=tmp_path / "csv", allow_patterns="*.csv")
    assert sorted(p.relative_to(csv).as_posix() for p in csv.rglob("*") if p.is_file()) == [
        "tables/x.csv",
        "tables/y.csv",
    ]
    mine = v1.asset.version("v2").fetch_directory(local_dir=tmp_path / "v2", verify=False)
    assert (mine / "a.txt").read_text() == "beta\n"
    assert (
        hashlib.md5((mine / "tables" / "x.csv").read_bytes()).hexdigest()
        == hashlib.md5(FILES["tables/x.csv"].encode()).hexdigest()
    )
    assert not (mine / "..manifest").exists()
    assert v1.fetch_directory() == whole


def test_gobbler_urls(reader: GobblerClient, v1: Version) -> None:
    fs = GobblerFileSystem(client=reader)
    assert fs.cat(f"gobbler://{v1.key}/tables/x.csv") == FILES["tables/x.csv"].encode()
    assert fs.cat(f"gobbler://{v1.asset.key}/..latest/a.txt") == b"beta\n"
    assert sorted(os.path.basename(p) for p in fs.glob(f"gobbler://{v1.key}/tables/*.csv")) == [
        "x.csv",
        "y.csv",
    ]


def test_the_mirror_served_what_it_was_asked(service: GobblerService, uploaded: tuple[str, Path]) -> None:
    transport = _example().MirrorTransport(uploaded[1])
    with GobblerClient(service.url, transport=transport) as client:
        version = client.project(uploaded[0]).asset("a").version("v1")
        assert client.transport is transport
        assert version.read_bytes("a.txt") == b"alpha\n"
        assert version.fetch_directory().is_relative_to(uploaded[1])
    assert transport.reads >= 2
