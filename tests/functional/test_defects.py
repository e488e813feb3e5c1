"""Where pygobbler 0.1.11 is wrong, gobbler_sdk.functional does the right thing (see docs/migrating.md).

Each test first shows the defect in pygobbler, then the correct behaviour of ours in the same situation.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pygobbler
import pytest
import requests

import gobbler_sdk._staging
import gobbler_sdk.functional as sdk
from gobbler_sdk import IntegrityError

from .conftest import Env, make_tree, me, unique


@pytest.fixture
def project(env: Env, tmp_path: Path) -> str:
    """A project with one version ``a/v1`` holding ``a.txt`` and ``sub/b.txt``."""
    name = unique("defects")
    sdk.create_project(name, env.staging, env.url)
    source = make_tree(tmp_path / "v1", {"a.txt": "alpha", "sub/b.txt": "bravo"})
    sdk.upload_directory(name, "a", "v1", str(source), env.staging, env.url)
    return name


def test_upload_copy_check_is_real(
    env: Env, project: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_tree(tmp_path / "src", {"data.txt": "the real bytes"})

    # A copy that silently damages the data on its way into staging (same size, different bytes):
    # pygobbler's check hashes the source twice, so it cannot notice anything.
    def damaging_copy(src: str, dest: str, **_: Any) -> str:
        Path(dest).write_bytes(Path(src).read_bytes().upper())
        return dest

    with monkeypatch.context() as patch:
        patch.setattr(shutil, "copy", damaging_copy)
        pygobbler.upload_directory(project, "a", "pyg", str(source), env.staging, env.url)
    stored = Path(env.registry) / project / "a" / "pyg" / "data.txt"
    assert stored.read_text() == "THE REAL BYTES"

    # Ours checks what a copy can get wrong cheaply and for real: its size. A truncated copy is refused
    # before anything is submitted, and the private staging copy is removed.
    def truncating_copy(copier: gobbler_sdk._staging._Copier, src: str, dest: str) -> int:
        data = Path(src).read_bytes()[:-3]
        # ``dest`` is relative to the copy's root directory, as for the real copier.
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=copier._root_fd)
        with os.fdopen(fd, "wb") as target:
            target.write(data)
        return len(data)

    before = set(os.listdir(env.staging))
    monkeypatch.setattr(gobbler_sdk._staging._Copier, "copy", truncating_copy)
    with pytest.raises(IntegrityError, match="11 bytes instead of 14"):
        sdk.upload_directory(project, "a", "ours", str(source), env.staging, env.url)
    assert "ours" not in sdk.list_versions(project, "a", env.registry, env.url)
    assert set(os.listdir(env.staging)) == before


def test_cached_files_are_validated(env: Env, project: str, tmp_path: Path) -> None:
    path = f"{project}/a/v1/a.txt"
    for library, cache in ((pygobbler, tmp_path / "pyg"), (sdk, tmp_path / "sdk")):
        cached = library.fetch_file(path, env.registry, env.url, cache=str(cache), force_remote=True)
        Path(cached).write_text("rotten")
        again = library.fetch_file(path, env.registry, env.url, cache=str(cache), force_remote=True)
        assert again == cached
        assert Path(again).read_text() == ("rotten" if library is pygobbler else "alpha")

    version = f"{project}/a/v1"
    for library, cache in ((pygobbler, tmp_path / "pyg-dir"), (sdk, tmp_path / "sdk-dir")):
        local = library.fetch_directory(version, env.registry, env.url, cache=str(cache), force_remote=True)
        (Path(local) / "sub" / "b.txt").unlink()
        (Path(local) / "a.txt").write_text("rotten")
        local = library.fetch_directory(version, env.registry, env.url, cache=str(cache), force_remote=True)
        if library is pygobbler:  # its completion marker makes it trust whatever is left in the cache
            assert not (Path(local) / "sub" / "b.txt").exists()
            assert (Path(local) / "a.txt").read_text() == "rotten"
        else:
            assert (Path(local) / "sub" / "b.txt").read_text() == "bravo"
            assert (Path(local) / "a.txt").read_text() == "alpha"


def test_remote_summaries_are_never_stale(env: Env, project: str, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "probational", {"p.txt": "p"})
    sdk.upload_directory(project, "a", "v2", str(source), env.staging, env.url, probation=True)
    read = {"registry": env.registry, "url": env.url, "force_remote": True}
    for library in (pygobbler, sdk):
        assert library.fetch_summary(project, "a", "v2", cache=str(tmp_path / "c"), **read)["on_probation"]
    sdk.approve_probation(project, "a", "v2", env.staging, env.url)
    assert pygobbler.fetch_summary(project, "a", "v2", cache=str(tmp_path / "c"), **read)["on_probation"]
    assert "on_probation" not in sdk.fetch_summary(project, "a", "v2", cache=str(tmp_path / "c"), **read)


def test_directory_nested_inside_staging(env: Env, project: str) -> None:
    parent = Path(sdk.allocate_upload_directory(env.staging))
    nested = make_tree(parent / "nested", {"n.txt": "november"})
    # pygobbler sees a directory "inside staging" and submits its base name, which is not in staging.
    with pytest.raises(requests.HTTPError) as caught:
        pygobbler.upload_directory(project, "a", "pyg", str(nested), env.staging, env.url)
    assert caught.value.args[0] == 400
    sdk.upload_directory(project, "a", "ours", str(nested), env.staging, env.url)
    assert sdk.list_files(project, "a", "ours", env.registry, env.url, include_dotdot=False) == ["n.txt"]
    assert (nested / "n.txt").read_text() == "november"


def test_clone_keeps_empty_directories_uploadable(env: Env, project: str, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "v2", {"a.txt": "alpha-2", "empty/dir": None})
    sdk.upload_directory(project, "a", "v2", str(source), env.staging, env.url)
    # The intended use: clone into an upload directory in staging, change it, upload it in place.
    theirs = Path(pygobbler.allocate_upload_directory(env.staging))
    ours = Path(sdk.allocate_upload_directory(env.staging))
    pygobbler.clone_version(project, "a", "v2", str(theirs), env.registry)
    sdk.clone_version(project, "a", "v2", str(ours), env.registry)
    # pygobbler links the empty directory into the registry, and a link to a directory cannot be uploaded.
    assert (theirs / "empty" / "dir").is_symlink()
    with pytest.raises(requests.HTTPError) as caught:
        pygobbler.upload_directory(project, "a", "pyg", str(theirs), env.staging, env.url)
    assert caught.value.args[0] == 500
    assert (ours / "empty" / "dir").is_dir() and not (ours / "empty" / "dir").is_symlink()
    sdk.upload_directory(project, "a", "ours", str(ours), env.staging, env.url)
    manifest = sdk.fetch_manifest(project, "a", "ours", env.registry, env.url)
    assert manifest["empty/dir"] == {"size": 0, "md5sum": ""}
    assert manifest["a.txt"]["link"]["version"] == "v2"


def test_relative_links_leaving_the_source_tree(env: Env, project: str, tmp_path: Path) -> None:
    work = tmp_path / "work" / "src"
    target = Path(env.registry) / project / "a" / "v1" / "a.txt"
    make_tree(work, {"up": ("link", os.path.relpath(target, work))})
    # pygobbler copies the link text unchanged into staging, where it no longer points at the file.
    with pytest.raises(requests.HTTPError) as caught:
        pygobbler.upload_directory(project, "a", "pyg", str(work), env.staging, env.url)
    assert caught.value.args[0] == 500
    sdk.upload_directory(project, "a", "ours", str(work), env.staging, env.url)
    link = sdk.fetch_manifest(project, "a", "ours", env.registry, env.url)["up"]["link"]
    assert link == {"project": project, "asset": "a", "version": "v1", "path": "a.txt"}


def test_list_files_with_a_partial_prefix(env: Env, project: str) -> None:
    with pytest.raises(TypeError):  # pygobbler assigns into a filter object
        pygobbler.list_files(project, "a", "v1", env.registry, env.url, prefix="sub/b")
    assert sdk.list_files(project, "a", "v1", env.registry, env.url, prefix="sub/b") == ["sub/b.txt"]
    assert not isinstance(pygobbler.list_files(project, "a", "v1", env.registry, env.url, prefix="a"), list)
    assert sdk.list_files(project, "a", "v1", env.registry, env.url, prefix="a") == ["a.txt"]


def test_appending_to_permissions_stored_as_null(env: Env, tmp_path: Path) -> None:
    project = unique("nulls")
    sdk.create_project(project, env.staging, env.url)
    sdk.set_permissions(project, env.registry, env.staging, env.url, global_write=True)
    source = make_tree(tmp_path / "gw", {"g.txt": "g"})
    # A global-write upload creates the asset with {"owners": ["<creator>"], "uploaders": null}.
    sdk.upload_directory(project, "gw", "v1", str(source), env.staging, env.url, spoof="walter")
    stored = json.loads((Path(env.registry) / project / "gw" / "..permissions").read_text())
    assert stored == {"owners": ["walter"], "uploaders": None}
    more = [{"id": "xavier"}]
    with pytest.raises(TypeError):
        pygobbler.set_permissions(project, env.registry, env.staging, env.url, asset="gw", uploaders=more)
    sdk.set_permissions(project, env.registry, env.staging, env.url, asset="gw", uploaders=more)
    assert sdk.fetch_permissions(project, env.registry, env.url, asset="gw") == {
        "owners": ["walter"],
        "uploaders": [{"id": "xavier"}],
    }
    assert me() not in stored["owners"]


def test_mounted_listing_of_nested_directories(env: Env, tmp_path: Path) -> None:
    project = unique("nested")
    sdk.create_project(project, env.staging, env.url)
    source = make_tree(tmp_path / "src", {"outer/inner/f.txt": "foxtrot"})
    sdk.upload_directory(project, "a", "v1", str(source), env.staging, env.url)
    # pygobbler's local walk calls "outer" empty because it only holds a directory; the service does not.
    assert "outer/" in pygobbler.list_files(project, "a", "v1", env.registry, env.url)
    expected = ["..manifest", "..summary", "outer/inner/f.txt"]
    assert (
        sorted(pygobbler.list_files(project, "a", "v1", env.registry, env.url, force_remote=True)) == expected
    )
    for force_remote in (False, True):
        ours = sdk.list_files(project, "a", "v1", env.registry, env.url, force_remote=force_remote)
        assert ours == expected
