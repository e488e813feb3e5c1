"""Every read, through both transports, against one registry built with raw requests, with exact answers."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gobbler_sdk import (
    GobblerClient,
    LocalTransport,
    Manifest,
    NotFoundError,
    Permissions,
    Project,
    Uploader,
)
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import Link, make_tree, me, snapshot, unique

ODD_ASSET = "odd name+%"
ODD_VERSION = "v 1+%&"
ODD_FILE = "f i+l%e.txt"


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def upload(service: GobblerService, project: str, asset: str, version: str, tree: Any, **fields: Any) -> None:
    source = make_tree(service.staging / unique("src"), tree)
    service.request(
        "upload", {"source": source.name, "project": project, "asset": asset, "version": version, **fields}
    )


@dataclass(frozen=True)
class Data:
    project: str


@pytest.fixture(scope="module")
def data(service: GobblerService) -> Iterator[Data]:
    name = new_project(
        service, uploaders=[{"id": "alice", "until": "2030-01-01T00:00:00Z", "trusted": False}]
    )
    upload(
        service,
        name,
        "a",
        "v1",
        {"a.txt": "hello", "sub/b.txt": "world!", "empty": None, "sub/deeper/none": None},
    )
    upload(
        service,
        name,
        "a",
        "v2",
        {"a.txt": "hello", "c.txt": "new", "alias": Link("c.txt"), "sub/b2.txt": "world!"},
    )
    upload(service, name, "a", "v3", {"p.txt": "prob"}, on_probation=True)
    service.request(
        "set_permissions",
        {"project": name, "asset": "b", "permissions": {"owners": ["bob"], "uploaders": [{"id": "carol"}]}},
    )
    upload(service, name, ODD_ASSET, ODD_VERSION, {ODD_FILE: "odd"})
    yield Data(name)
    service.request("delete_project", {"project": name})


@pytest.fixture
def project(client: GobblerClient, data: Data) -> Project:
    return client.project(data.project)


def link(project: str, version: str, path: str, ancestor: dict[str, Any] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"project": project, "asset": "a", "version": version, "path": path}
    if ancestor is not None:
        found["ancestor"] = ancestor
    return found


def expected_manifests(project: str) -> dict[str, dict[str, Any]]:
    return {
        "v1": {
            "a.txt": {"size": 5, "md5sum": md5("hello")},
            "empty": {"size": 0, "md5sum": ""},
            "sub/b.txt": {"size": 6, "md5sum": md5("world!")},
            "sub/deeper/none": {"size": 0, "md5sum": ""},
        },
        "v2": {
            "a.txt": {"size": 5, "md5sum": md5("hello"), "link": link(project, "v1", "a.txt")},
            "alias": {"size": 3, "md5sum": md5("new"), "link": link(project, "v2", "c.txt")},
            "c.txt": {"size": 3, "md5sum": md5("new")},
            "sub/b2.txt": {"size": 6, "md5sum": md5("world!"), "link": link(project, "v1", "sub/b.txt")},
        },
        "v3": {"p.txt": {"size": 4, "md5sum": md5("prob")}},
    }


READS: list[tuple[str, Callable[[Project, bool], Any]]] = [
    ("assets", lambda p, r: [a.key for a in p.assets(force_remote=r)]),
    ("versions", lambda p, r: [v.key for v in p.asset("a").versions(force_remote=r)]),
    ("latest", lambda p, r: str(p.asset("a").latest(force_remote=r))),
    ("manifest", lambda p, r: p.asset("a").version("v2").manifest(force_remote=r)),
    ("summary", lambda p, r: p.asset("a").version("v3").summary(force_remote=r)),
    ("permissions", lambda p, r: p.permissions(force_remote=r)),
    ("asset permissions", lambda p, r: p.asset("b").permissions(force_remote=r)),
    ("usage", lambda p, r: p.usage(force_remote=r)),
    ("exists", lambda p, r: [p.exists(force_remote=r), p.asset("zz").exists(force_remote=r)]),
    ("files", lambda p, r: p.asset("a").version("v2").files(force_remote=r)),
    ("fetch", lambda p, r: p.asset("a").version("v2").fetch("alias", force_remote=r).read_text()),
    ("projects", lambda p, r: p.name in [x.name for x in p.client.projects(force_remote=r)]),
]


@pytest.mark.parametrize("read", [r for _, r in READS], ids=[n for n, _ in READS])
def test_force_remote_reads_the_same(project: Project, read: Callable[[Project, bool], Any]) -> None:
    assert read(project, True) == read(project, False)


@pytest.mark.parametrize("read", [r for _, r in READS], ids=[n for n, _ in READS])
def test_force_remote_really_goes_remote(
    data: Data,
    service: GobblerService,
    make_client: Callable[..., GobblerClient],
    tmp_path: Path,
    read: Callable[[Project, bool], Any],
) -> None:
    # The local transport sees an empty "registry", so only force_remote can find the data.
    (tmp_path / "empty-registry").mkdir()
    client = make_client(service.url, transport=LocalTransport(tmp_path / "empty-registry"))
    honest = make_client(service.url, transport="remote", cache=tmp_path / "other-cache")
    assert read(client.project(data.project), True) == read(honest.project(data.project), False)


def test_projects(client: GobblerClient, data: Data) -> None:
    projects = client.projects()
    assert client.project(data.project) in projects
    assert projects == sorted(projects, key=lambda p: p.name.encode())
    assert all(not p.name.startswith("..") for p in projects)


def test_exists(project: Project) -> None:
    assert project.exists()
    assert project.asset("a").exists()
    assert project.asset("a").version("v1").exists()
    assert project.asset("b").exists()
    assert not project.asset("a").version("nope").exists()
    assert not project.asset("nope").exists()
    assert not project.asset("nope").version("v1").exists()
    assert not project.client.project(unique("missing")).exists()
    assert not project.client.project(unique("missing")).asset("a").version("v").exists()


def test_assets_and_versions(project: Project) -> None:
    assert project.assets() == [project.asset("a"), project.asset("b"), project.asset(ODD_ASSET)]
    assert project.asset("a").versions() == [project.asset("a").version(v) for v in ("v1", "v2", "v3")]
    assert project.asset("b").versions() == []
    assert project.asset(ODD_ASSET).versions() == [project.asset(ODD_ASSET).version(ODD_VERSION)]


def test_listing_missing_things(project: Project) -> None:
    with pytest.raises(NotFoundError):
        project.client.project(unique("missing")).assets()
    with pytest.raises(NotFoundError):
        project.asset("nope").versions()
    with pytest.raises(NotFoundError):
        project.asset("a").version("nope").files()


def test_latest(project: Project) -> None:
    assert project.asset("a").latest() == project.asset("a").version("v2")
    assert project.asset("b").latest() is None
    with pytest.raises(NotFoundError, match=r"asset .* does not exist"):
        project.asset("nope").latest()
    with pytest.raises(NotFoundError, match=r"project .* does not exist"):
        project.client.project(unique("missing")).asset("a").latest()


def test_manifests(project: Project, data: Data) -> None:
    for version, expected in expected_manifests(data.project).items():
        manifest = project.asset("a").version(version).manifest()
        assert isinstance(manifest, Manifest)
        assert manifest.model_dump(mode="json") == expected
    v2 = project.asset("a").version("v2").manifest()
    assert list(v2) == ["a.txt", "alias", "c.txt", "sub/b2.txt"]
    assert len(v2) == 4 and "c.txt" in v2 and "nope" not in v2
    assert v2["c.txt"].size == 3 and v2.get("nope") is None
    assert v2.stored_size == 3
    assert v2.total_size == sum(entry.size for entry in v2.values())
    assert v2.files() == ["a.txt", "alias", "c.txt", "sub/b2.txt"]
    assert sorted(v2.linked()) == ["a.txt", "alias", "sub/b2.txt"]
    assert v2["a.txt"].link is not None and v2["a.txt"].link.registry_path == f"{data.project}/a/v1/a.txt"
    v1 = project.asset("a").version("v1").manifest()
    assert v1.empty_directories() == ["empty", "sub/deeper/none"]
    assert v1["empty"].is_directory and not v1["a.txt"].is_directory
    assert v1.total_size == v1.stored_size == 11


def test_summaries(project: Project) -> None:
    v1 = project.asset("a").version("v1").summary()
    assert v1.upload_user_id == me()
    assert v1.on_probation is False
    assert v1.upload_start <= v1.upload_finish
    assert v1.upload_finish.tzinfo is not None
    v3 = project.asset("a").version("v3")
    assert v3.summary().on_probation is True
    assert not hasattr(v3, "on_probation")  # a property would send a request when merely looked at
    assert project.asset("a").version("v2").summary().on_probation is False


def test_missing_version_reads(project: Project) -> None:
    missing = project.asset("a").version("nope")
    for read in (missing.manifest, missing.summary, lambda: missing.summary().on_probation):
        with pytest.raises(NotFoundError):
            read()
    with pytest.raises(NotFoundError):
        missing.fetch("a.txt")
    with pytest.raises(NotFoundError):
        missing.fetch_directory()
    with pytest.raises(NotFoundError):
        project.asset("a").version("v1").fetch("not-there.txt")
    # Empty directories and sub-directories are not files; files are not directories.
    for directory in ("empty", "sub", "sub/deeper"):
        with pytest.raises(NotFoundError):
            project.asset("a").version("v1").fetch(directory)
    with pytest.raises(NotFoundError):
        project.client.fetch_directory(f"{project.name}/a/v1/a.txt")
    # ..latest names the asset's latest version in every read (resolved once per call).
    latest = project.asset("a").latest()
    assert latest is not None
    assert project.client.fetch_directory(f"{project.name}/a/..latest") == latest.fetch_directory()
    assert project.client.fetch_file(f"{project.name}/a/..latest/c.txt") == latest.fetch("c.txt")
    assert project.client.read_range(f"{project.name}/a/..latest/c.txt") == latest.read_bytes("c.txt")
    assert project.client.unpack_path(f"{project.name}/a/..latest/c.txt") == (latest, "c.txt")
    with pytest.raises(NotFoundError, match="has no latest version"):
        project.client.fetch_file(f"{project.name}/b/..latest/x")


def test_permissions(project: Project) -> None:
    assert project.permissions() == Permissions(
        owners=(me(),),
        uploaders=(
            Uploader.model_validate({"id": "alice", "until": "2030-01-01T00:00:00Z", "trusted": False}),
        ),
    )
    assert project.permissions().global_write is False
    assert project.asset("b").permissions() == Permissions(owners=("bob",), uploaders=(Uploader(id="carol"),))
    assert project.asset("a").permissions() == Permissions()
    assert project.asset("nope").permissions() == Permissions()
    with pytest.raises(NotFoundError):
        project.client.project(unique("missing")).permissions()


def test_usage(project: Project) -> None:
    assert project.usage() == 5 + 6 + 3 + 4 + 3
    with pytest.raises(NotFoundError):
        project.client.project(unique("missing")).usage()


def test_files(project: Project) -> None:
    v2 = project.asset("a").version("v2")
    assert v2.files() == [
        "..links",
        "..manifest",
        "..summary",
        "a.txt",
        "alias",
        "c.txt",
        "sub/..links",
        "sub/b2.txt",
    ]
    assert v2.files(include_dotdot=False) == ["a.txt", "alias", "c.txt", "sub/b2.txt"]
    assert v2.files("sub/") == ["sub/..links", "sub/b2.txt"]
    assert v2.files("sub/", include_dotdot=False) == ["sub/b2.txt"]
    # Empty directories are not files, unless asked for.
    v1 = project.asset("a").version("v1")
    assert v1.files(include_dotdot=False) == ["a.txt", "sub/b.txt"]
    assert sorted(v1.files(include_dotdot=False, empty_directories=True)) == [
        "a.txt",
        "empty/",
        "sub/b.txt",
        "sub/deeper/none/",
    ]


def test_fetch_and_open(project: Project, client: GobblerClient, data: Data, service: GobblerService) -> None:
    v2 = project.asset("a").version("v2")
    contents = {"a.txt": "hello", "alias": "new", "c.txt": "new", "sub/b2.txt": "world!"}
    for path, text in contents.items():
        local = v2.fetch(path)
        assert local.read_text() == text
        with v2.open(path) as handle:
            assert handle.read() == text.encode()
        if client.transport.kind == "local":
            assert local == service.registry / data.project / "a" / "v2" / path
        else:
            assert local == client.cache_dir / "REGISTRY" / data.project / "a" / "v2" / path
            assert local.is_file() and not local.is_symlink()


def test_fetch_file_internal_files(client: GobblerClient, data: Data) -> None:
    permissions = client.fetch_file(f"{data.project}/..permissions")
    assert Permissions.model_validate_json(permissions.read_bytes()).owners == (me(),)
    summary = client.fetch_file(f"{data.project}/a/v2/..summary")
    assert b'"upload_user_id"' in summary.read_bytes()
    with pytest.raises(NotFoundError):
        client.fetch_file(f"{data.project}/a/..nothing")


def test_odd_names(project: Project) -> None:
    version = project.asset(ODD_ASSET).version(ODD_VERSION)
    assert version.exists()
    assert version.files(include_dotdot=False) == [ODD_FILE]
    assert version.fetch(ODD_FILE).read_text() == "odd"
    assert version.manifest()[ODD_FILE].size == 3
    assert version.summary().upload_user_id == me()
    assert (version.fetch_directory() / ODD_FILE).read_text() == "odd"


def test_version_directory(
    project: Project, client: GobblerClient, service: GobblerService, data: Data
) -> None:
    v2 = project.asset("a").version("v2")
    directory = v2.fetch_directory()
    assert v2.fetch_directory() == directory
    assert v2.download() == directory
    if client.transport.kind == "local":
        assert directory == service.registry / data.project / "a" / "v2"
        return
    assert directory == client.cache_dir / "REGISTRY" / data.project / "a" / "v2"
    assert snapshot(directory) == {
        "..links",
        "..manifest",
        "..summary",
        "a.txt",
        "alias",
        "c.txt",
        "sub",
        "sub/..links",
        "sub/b2.txt",
    }
    for path, text in {"a.txt": "hello", "alias": "new", "c.txt": "new", "sub/b2.txt": "world!"}.items():
        assert (directory / path).read_text() == text
        assert not (directory / path).is_symlink()
    # Linked copies of one file share their bytes (hard links) rather than being downloaded twice.
    assert os.path.samefile(directory / "alias", directory / "c.txt")


def test_empty_directories_are_created(project: Project, client: GobblerClient) -> None:
    directory = project.asset("a").version("v1").fetch_directory()
    assert (directory / "empty").is_dir()
    assert (directory / "sub" / "deeper" / "none").is_dir()
    assert not os.listdir(directory / "empty")


def test_version_path_force_remote(project: Project, client: GobblerClient, data: Data) -> None:
    v1 = project.asset("a").version("v1")
    assert v1.fetch_directory(force_remote=True) == client.cache_dir / "REGISTRY" / data.project / "a" / "v1"
    assert (v1.fetch_directory(force_remote=True) / "sub" / "b.txt").read_text() == "world!"


def test_fetch_directory_of_a_sub_directory_and_an_asset(
    project: Project, client: GobblerClient, data: Data
) -> None:
    sub = client.fetch_directory(f"{data.project}/a/v1/sub", force_remote=True)
    assert snapshot(sub) == {"b.txt", "deeper", "deeper/none"}
    asset = client.fetch_directory(f"/{data.project}/a/", force_remote=True)
    assert (asset / "v2" / "alias").read_text() == "new"
    assert (asset / "v3" / "p.txt").read_text() == "prob"
    assert (asset / "..latest").is_file()
    with pytest.raises(NotFoundError):
        client.fetch_directory(f"{data.project}/nope")
