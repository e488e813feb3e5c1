"""Read functions: pygobbler and gobbler_sdk.functional read the same registry data, locally and remotely."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pygobbler
import pytest

import gobbler_sdk.functional as sdk

from .conftest import Env, make_tree, me, unique

UNTIL = "2030-01-01T00:00:00.123456789+01:00"
ODD_TIME = "2001-02-03T04:05:06.700000000+05:30"


@pytest.fixture(scope="module")
def data(env: Env, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One project with links, a chain of deduplicated files, empty directories and a probational version."""
    project = unique("read")
    work = tmp_path_factory.mktemp("read-sources")
    uploaders = [{"id": "bob", "until": UNTIL, "trusted": False}]
    pygobbler.create_project(project, env.staging, env.url, uploaders=uploaders)

    def upload(asset: str, version: str, tree: dict[str, Any], **options: Any) -> None:
        source = make_tree(work / f"{asset}-{version}", tree)
        pygobbler.upload_directory(project, asset, version, str(source), env.staging, env.url, **options)

    upload(
        "a",
        "v1",
        {
            "a.txt": "alpha",
            "sub/b.txt": "bravo",
            "deep/er": None,
            "loc": ("link", "a.txt"),
            ".hidden": "dot",
        },
    )
    upload("a", "v2", {"a.txt": "alpha", "sub/b.txt": "bravo-2", "c.txt": "charlie"})
    upload("a", "v3", {"a.txt": "alpha", "c.txt": "charlie", "d/e.txt": "echo"})
    upload("a", "v4", {"p.txt": "probation"}, probation=True)
    upload("b", "v1", {"x": "x-ray"})
    pygobbler.set_permissions(
        project, env.registry, env.staging, env.url, asset="b", owners=["carol"], append=False
    )
    # A valid timestamp in a spelling no datetime round trip reproduces: it must come back unchanged.
    summary = Path(env.registry, project, "a", "v2", "..summary")
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "upload_start": ODD_TIME}, indent=4))
    return project


MODES = [pytest.param(False, id="local"), pytest.param(True, id="remote")]


def both(name: str, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """Call pygobbler's and our function with the same arguments."""
    return getattr(pygobbler, name)(*args, **kwargs), getattr(sdk, name)(*args, **kwargs)


@pytest.mark.parametrize("force_remote", MODES)
def test_fetch_permissions(env: Env, data: str, force_remote: bool) -> None:
    for asset in (None, "a", "b", "no-such-asset"):
        theirs, ours = both("fetch_permissions", data, env.registry, env.url, asset, force_remote)
        assert ours == theirs
    theirs, ours = both("fetch_permissions", data, env.registry, env.url, force_remote=force_remote)
    assert (
        ours == theirs == {"owners": [me()], "uploaders": [{"id": "bob", "until": UNTIL, "trusted": False}]}
    )
    assert type(ours) is dict


@pytest.mark.parametrize("force_remote", MODES)
def test_fetch_latest(env: Env, data: str, force_remote: bool) -> None:
    results = [both("fetch_latest", data, asset, env.registry, env.url, force_remote) for asset in "abz"]
    assert results == [("v3", "v3"), ("v1", "v1"), (None, None)]


@pytest.mark.parametrize("force_remote", MODES)
@pytest.mark.parametrize("document", ["fetch_summary", "fetch_manifest"])
def test_fetch_version_documents_as_stored(
    env: Env, data: str, force_remote: bool, document: str, tmp_path: Path
) -> None:
    for version in ("v1", "v2", "v3", "v4"):
        theirs = getattr(pygobbler, document)(
            data, "a", version, env.registry, env.url, cache=str(tmp_path / "pyg"), force_remote=force_remote
        )
        ours = getattr(sdk, document)(
            data, "a", version, env.registry, env.url, cache=str(tmp_path / "sdk"), force_remote=force_remote
        )
        assert ours == theirs
        assert type(ours) is dict
    summary = sdk.fetch_summary(data, "a", "v2", env.registry, env.url, force_remote=force_remote)
    assert summary["upload_start"] == ODD_TIME
    summary = sdk.fetch_summary(data, "a", "v4", env.registry, env.url, force_remote=force_remote)
    assert summary["on_probation"] is True and isinstance(summary["upload_finish"], str)
    manifest = sdk.fetch_manifest(data, "a", "v3", env.registry, env.url, force_remote=force_remote)
    assert manifest["a.txt"]["link"] == {
        "project": data,
        "asset": "a",
        "version": "v2",
        "path": "a.txt",
        "ancestor": {"project": data, "asset": "a", "version": "v1", "path": "a.txt"},
    }
    assert sdk.fetch_manifest(data, "a", "v1", env.registry, env.url)["deep/er"] == {"size": 0, "md5sum": ""}


@pytest.mark.parametrize("force_remote", MODES)
def test_fetch_usage(env: Env, data: str, force_remote: bool) -> None:
    theirs, ours = both("fetch_usage", data, env.registry, env.url, force_remote)
    assert ours == theirs
    assert type(ours) is int and ours > 0


@pytest.mark.parametrize("force_remote", MODES)
def test_listings(env: Env, data: str, force_remote: bool) -> None:
    theirs, ours = both("list_projects", env.registry, env.url, force_remote)
    assert set(ours) == set(theirs) and data in ours and type(ours) is list
    theirs, ours = both("list_assets", data, env.registry, env.url, force_remote)
    assert sorted(theirs) == ours == ["a", "b"]
    theirs, ours = both("list_versions", data, "a", env.registry, env.url, force_remote)
    assert sorted(theirs) == ours == ["v1", "v2", "v3", "v4"]


@pytest.mark.parametrize("force_remote", MODES)
@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_list_files(env: Env, data: str, force_remote: bool, version: str) -> None:
    theirs, ours = both("list_files", data, "a", version, env.registry, env.url, force_remote=force_remote)
    assert type(ours) is list
    assert sorted(ours) == sorted(theirs)
    # pygobbler returns a lazy filter object here; compare its contents.
    theirs, ours = both(
        "list_files",
        data,
        "a",
        version,
        env.registry,
        env.url,
        include_dotdot=False,
        force_remote=force_remote,
    )
    assert sorted(ours) == sorted(theirs)
    assert type(ours) is list and ours and not any(".." in path for path in ours)
    if version != "v3":  # v3 has no sub/ (pygobbler fails listing a missing prefix directory remotely)
        theirs, ours = both(
            "list_files", data, "a", version, env.registry, env.url, prefix="sub/", force_remote=force_remote
        )
        assert ours == theirs == ["sub/b.txt"]


def test_list_files_reports_empty_directories(env: Env, data: str) -> None:
    for force_remote in (False, True):
        ours = sdk.list_files(data, "a", "v1", env.registry, env.url, force_remote=force_remote)
        assert sorted(ours) == sorted(
            ["..links", "..manifest", "..summary", "a.txt", "loc", "sub/b.txt", "deep/er/"]
        )
        ours = sdk.list_files(data, "a", "v1", env.registry, env.url, prefix="a", force_remote=force_remote)
        assert ours == ["a.txt"]


def test_fetch_file_local_returns_the_registry_path(env: Env, data: str) -> None:
    for path in (f"{data}/a/v1/a.txt", f"{data}/a/v3/a.txt", f"{data}/a/v1/..summary"):
        theirs, ours = both("fetch_file", path, env.registry, env.url)
        assert ours == theirs == os.path.join(env.registry, path)


def test_fetch_file_remote_gives_the_same_cached_layout(env: Env, data: str, tmp_path: Path) -> None:
    for path in (f"{data}/a/v1/a.txt", f"{data}/a/v3/a.txt", f"{data}/a/v1/loc", f"{data}/a/v2/..manifest"):
        theirs = pygobbler.fetch_file(
            path, env.registry, env.url, cache=str(tmp_path / "pyg"), force_remote=True
        )
        ours = sdk.fetch_file(path, env.registry, env.url, cache=str(tmp_path / "sdk"), force_remote=True)
        assert os.path.relpath(ours, tmp_path / "sdk") == os.path.relpath(theirs, tmp_path / "pyg")
        assert (
            Path(ours).read_bytes() == Path(theirs).read_bytes() == (Path(env.registry) / path).read_bytes()
        )


def tree_of(root: str) -> dict[str, bytes | None]:
    found: dict[str, bytes | None] = {}
    for directory, subdirectories, files in os.walk(root):
        for name in subdirectories:
            path = os.path.join(directory, name)
            if not os.listdir(path):
                found[os.path.relpath(path, root)] = None
        for name in files:
            path = os.path.join(directory, name)
            found[os.path.relpath(path, root)] = Path(path).read_bytes()
    return found


@pytest.mark.parametrize("version", ["v1", "v3"])
def test_fetch_directory_and_version_path(env: Env, data: str, tmp_path: Path, version: str) -> None:
    path = f"{data}/a/{version}"
    theirs, ours = both("fetch_directory", path, env.registry, env.url)
    assert ours == theirs == os.path.join(env.registry, path)
    theirs, ours = both("version_path", data, "a", version, registry=env.registry, url=env.url)
    assert ours == theirs == os.path.join(env.registry, path)

    theirs = pygobbler.fetch_directory(
        path, env.registry, env.url, cache=str(tmp_path / "pyg"), force_remote=True
    )
    ours = sdk.fetch_directory(path, env.registry, env.url, cache=str(tmp_path / "sdk"), force_remote=True)
    assert os.path.relpath(ours, tmp_path / "sdk") == os.path.relpath(theirs, tmp_path / "pyg")
    assert tree_of(ours) == tree_of(theirs)
    assert tree_of(ours)["a.txt"] == b"alpha"
    ours = sdk.version_path(
        data,
        "a",
        version,
        registry=env.registry,
        url=env.url,
        cache=str(tmp_path / "sdk2"),
        force_remote=True,
    )
    assert tree_of(ours) == tree_of(theirs)


def test_service_info(env: Env) -> None:
    theirs, ours = both("service_info", env.url)
    assert ours == theirs == {"registry": env.registry, "staging": env.staging}


@pytest.mark.parametrize("path", ["p/a/v", "p/a/v/", "p/a/v/file.txt", "p/a/v/sub/dir/file", "p/a/v/d/"])
def test_unpack_path(path: str) -> None:
    theirs, ours = both("unpack_path", path)
    if path == "p/a/v/d/":
        # pygobbler keeps the trailing slash of a directory path; ours names the directory.
        assert theirs["path"] == "d/" and ours["path"] == "d"
        return
    assert ours == theirs


def test_remote_documents_of_settled_versions_are_cached_like_pygobbler(env: Env, tmp_path: Path) -> None:
    project = unique("docs")
    sdk.create_project(project, env.staging, env.url)
    sdk.upload_directory(
        project, "a", "v1", str(make_tree(tmp_path / "src", {"f": "ff"})), env.staging, env.url
    )
    manifest_path = Path(env.registry) / project / "a" / "v1" / "..manifest"
    original = json.loads(manifest_path.read_text())
    for library in (pygobbler, sdk):
        cache = str(tmp_path / library.__name__)
        args = (project, "a", "v1", env.registry, env.url)
        assert library.fetch_manifest(*args, cache=cache, force_remote=True) == original
        # An administrator's rewrite of a settled version is seen only when asked for with overwrite.
        manifest_path.write_text(json.dumps({**original, "g": {"size": 0, "md5sum": ""}}))
        assert library.fetch_manifest(*args, cache=cache, force_remote=True) == original
        rewritten = library.fetch_manifest(*args, cache=cache, force_remote=True, overwrite=True)
        assert rewritten == {**original, "g": {"size": 0, "md5sum": ""}}
        manifest_path.write_text(json.dumps(original))
