"""Every action end to end through both transports: projects, uploads, permissions, probation, upkeep."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gobbler_sdk import (
    GobblerClient,
    InvalidNameError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    Permissions,
    Project,
    RerouteChange,
    ServiceError,
    Uploader,
    Version,
)
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import EXCLUDED_USER, Link, LyingServer, make_tree, me, request_files, snapshot, unique


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def source(tmp_path: Path, tree: Any) -> Path:
    return make_tree(tmp_path / unique("src"), tree)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


# ---------------------------------------------------------------------- projects


def test_create_project(client: GobblerClient, service: GobblerService) -> None:
    name = unique("proj")
    project = client.create_project(
        name,
        owners=["alice"],
        uploaders=[Uploader(id="bob", trusted=True), {"id": "carol", "until": "2031-01-01T00:00:00Z"}],
    )
    assert project == client.project(name)
    assert project.exists()
    assert read_json(service.registry / name / "..permissions") == {
        "owners": ["alice"],
        "uploaders": [{"id": "bob", "trusted": True}, {"id": "carol", "until": "2031-01-01T00:00:00Z"}],
    }
    assert project.usage() == 0
    assert project.assets() == []

    default = client.project(unique("proj")).create()
    assert default.permissions() == Permissions(owners=(me(),), uploaders=())

    shared = client.project(unique("proj")).create(global_write=True)
    assert read_json(service.registry / shared.name / "..permissions") == {
        "owners": [me()],
        "uploaders": [],
        "global_write": True,
    }
    assert shared.permissions().global_write is True
    assert request_files(service.staging) == []

    with pytest.raises(InvalidRequestError) as caught:
        client.create_project(name)
    assert caught.value.status == 400
    assert caught.value.reason is not None and "already exists" in caught.value.reason
    assert request_files(service.staging) == []


# ---------------------------------------------------------------------- uploads


def test_upload_from_outside_staging(
    client: GobblerClient, service: GobblerService, project: Project, tmp_path: Path
) -> None:
    asset = project.asset("a")
    asset.upload("v1", source(tmp_path, {"a.txt": "alpha", "b.txt": "bravo"}))
    target = service.registry / project.name / "a" / "v1" / "a.txt"
    tree = {
        "top.txt": "top",
        "nested/deeper/file.txt": "deep",
        "empty": None,
        "nested/also-empty": None,
        ".hidden": "dot",
        ".dotdir/inside.txt": "dot",
        "local": Link("top.txt"),
        "nested/up": Link("../top.txt"),
        "absolute": Link(str(target)),
    }
    directory = source(tmp_path, tree)
    # A relative link that leaves the directory still reaches the registry (the private copy is elsewhere).
    os.symlink(
        os.path.relpath(service.registry / project.name / "a" / "v1" / "b.txt", directory), directory / "rel"
    )
    before_source = snapshot(directory)
    before_staging = snapshot(service.staging)

    v2 = asset.upload("v2", directory, ignore_dot=True)

    assert v2 == asset.version("v2")
    assert v2.manifest().model_dump(mode="json") == {
        "absolute": {"size": 5, "md5sum": md5("alpha"), "link": v1_link(project, "a.txt")},
        "empty": {"size": 0, "md5sum": ""},
        "local": {"size": 3, "md5sum": md5("top"), "link": {**v1_link(project, "top.txt"), "version": "v2"}},
        "nested/also-empty": {"size": 0, "md5sum": ""},
        "nested/deeper/file.txt": {"size": 4, "md5sum": md5("deep")},
        "nested/up": {
            "size": 3,
            "md5sum": md5("top"),
            "link": {**v1_link(project, "top.txt"), "version": "v2"},
        },
        "rel": {"size": 5, "md5sum": md5("bravo"), "link": v1_link(project, "b.txt")},
        "top.txt": {"size": 3, "md5sum": md5("top")},
    }
    # The private copy is gone, the original untouched, no request file left behind.
    assert snapshot(service.staging) == before_staging
    assert snapshot(directory) == before_source
    assert (directory / "top.txt").read_text() == "top"
    assert v2.summary().upload_user_id == me()
    assert v2.summary().on_probation is False
    assert asset.latest() == v2


def v1_link(project: Project, path: str) -> dict[str, str]:
    return {"project": project.name, "asset": "a", "version": "v1", "path": path}


def test_absolute_links_inside_the_directory_stay_links(project: Project, tmp_path: Path) -> None:
    directory = source(tmp_path, {"a.txt": "alpha", "sub/b.txt": "bravo"})
    os.symlink(directory / "a.txt", directory / "abs")
    os.symlink(directory / "sub" / "b.txt", directory / "sub" / "abs-b")
    version = project.asset("a").upload("v1", directory)
    manifest = version.manifest()
    assert manifest["abs"].link is not None and manifest["abs"].link.path == "a.txt"
    assert manifest["sub/abs-b"].link is not None and manifest["sub/abs-b"].link.path == "sub/b.txt"
    assert os.readlink(directory / "abs") == str(directory / "a.txt")


def test_upload_keeps_dotfiles_when_asked(project: Project, tmp_path: Path) -> None:
    directory = source(tmp_path, {".hidden": "dot", ".dotdir/x": "x", "plain": "p"})
    version = project.asset("a").upload("v1", directory, ignore_dot=False)
    assert sorted(version.manifest()) == [".dotdir/x", ".hidden", "plain"]
    assert version.fetch(".hidden").read_text() == "dot"


def test_upload_sends_exactly_this_request(
    service: GobblerService, proxy: LyingServer, make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    client = make_client(proxy.url, transport="remote")
    project = client.project(new_project(service))
    project.asset("a").upload("v1", source(tmp_path, {"x": "x"}))
    project.asset("a").upload(
        "v2", source(tmp_path, {"y": "y"}), probation=True, consume=False, ignore_dot=True
    )
    (first_name, first), (second_name, second) = proxy.posted
    assert first_name.startswith("request-upload-") and second_name.startswith("request-upload-")
    assert first["source"].startswith("upload-") and second["source"].startswith("upload-")
    del first["source"], second["source"]
    assert first == {
        "project": project.name,
        "asset": "a",
        "version": "v1",
        "on_probation": False,
        "consume": True,
        "ignore_dot": False,  # dotfiles are sent unless asked otherwise, as the service's own default
    }
    assert second == {**first, "version": "v2", "on_probation": True, "consume": False, "ignore_dot": True}


def test_upload_failures_leave_staging_clean(
    client: GobblerClient, service: GobblerService, project: Project, tmp_path: Path
) -> None:
    asset = project.asset("a")
    asset.upload("v1", source(tmp_path, {"x": "x"}))
    before = snapshot(service.staging)

    # Refused by the client before copying (the service would answer 500).
    with pytest.raises(InvalidRequestError, match="broken: a dangling symlink") as dangling:
        asset.upload("v2", source(tmp_path, {"x": "x", "broken": Link("nowhere")}))
    assert dangling.value.status is None
    assert not asset.version("v2").exists()

    with pytest.raises(InvalidRequestError, match="already exists") as exists:
        asset.upload("v1", source(tmp_path, {"y": "y"}))
    assert exists.value.status is None  # refused before a byte was copied into staging
    with pytest.raises(InvalidRequestError) as told:
        asset.upload("v1", source(tmp_path, {"y": "y"}), check=False)
    assert told.value.status == 400 and "already exists" in (told.value.reason or "")
    # A probational version of the same name is refused the same way, before anything is copied.
    asset.upload("trial", source(tmp_path, {"t": "t"}), probation=True)
    with pytest.raises(InvalidRequestError, match="already exists") as trial:
        asset.upload("trial", source(tmp_path, {"y": "y"}), probation=True)
    assert trial.value.status is None
    asset.version("trial").reject()

    with pytest.raises(NotFoundError) as missing:
        client.project(unique("missing")).asset("a").upload("v1", source(tmp_path, {"y": "y"}))
    assert missing.value.status == 404

    with pytest.raises(PermissionDeniedError) as spoofed:
        asset.upload("v3", source(tmp_path, {"y": "y"}), spoof=EXCLUDED_USER)
    assert spoofed.value.status == 403 and "spoof" in (spoofed.value.reason or "")

    with pytest.raises(InvalidRequestError):
        asset.upload("v4", tmp_path / "no-such-directory")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(InvalidRequestError):
        asset.upload("v4", tmp_path / "a-file")

    assert snapshot(service.staging) == before
    assert asset.versions() == [asset.version("v1")]


def test_names_are_checked_before_anything_is_written(
    client: GobblerClient, service: GobblerService, project: Project, tmp_path: Path
) -> None:
    directory = source(tmp_path, {"x": "x"})
    before = snapshot(service.staging)
    for bad in ("", "..v", "a/b"):
        with pytest.raises(InvalidNameError):
            project.asset("a").upload(bad, directory)
        with pytest.raises(InvalidNameError):
            client.create_project(bad)
        with pytest.raises(InvalidNameError):
            project.asset(bad).set_permissions(owners=["x"])
        with pytest.raises(InvalidNameError):
            client.reroute_links([{"project": project.name, "asset": bad}])
        with pytest.raises(InvalidNameError):
            client.reroute_links([{"project": bad}], dry_run=True)
        with pytest.raises(InvalidNameError):
            client.reroute_links([{"project": project.name, "asset": "a", "version": bad}])
    for malformed in ({"asset": "a"}, {"project": project.name, "version": "v"}):
        with pytest.raises(InvalidRequestError):
            client.reroute_links([malformed])
    assert snapshot(service.staging) == before


def test_upload_in_place(client: GobblerClient, service: GobblerService, project: Project) -> None:
    directory = client.allocate_upload_directory()
    assert directory.parent == Path(service.staging) and directory.is_dir()
    assert directory.name.startswith("upload-")
    try:
        make_tree(directory, {"a.txt": "in place", "sub/b.txt": "b", "empty": None})
        version = project.asset("a").upload("v1", directory)
        assert version.manifest().model_dump(mode="json") == {
            "a.txt": {"size": 8, "md5sum": md5("in place")},
            "empty": {"size": 0, "md5sum": ""},
            "sub/b.txt": {"size": 1, "md5sum": md5("b")},
        }
        # Not consumed by default, and left for its owner.
        assert snapshot(directory) == {"a.txt", "sub", "sub/b.txt", "empty"}
        version2 = project.asset("a").upload("v2", directory, consume=True)
        assert version2.fetch("a.txt").read_text() == "in place"
    finally:
        for dirpath, _, filenames in os.walk(directory, topdown=False):
            for name in filenames:
                os.unlink(os.path.join(dirpath, name))
            os.rmdir(dirpath)

    unused = client.allocate_upload_directory(create=False)
    assert unused.parent == Path(service.staging) and not unused.exists()


def test_in_place_consume_moves_files(
    client: GobblerClient, service: GobblerService, project: Project
) -> None:
    directory = client.allocate_upload_directory()
    make_tree(directory, {"moved.txt": "moved"})
    project.asset("a").upload("v1", directory, consume=True)
    assert not (directory / "moved.txt").exists()
    assert (service.registry / project.name / "a" / "v1" / "moved.txt").read_text() == "moved"
    directory.rmdir()


def test_probational_and_spoofed_uploads(
    client: GobblerClient, service: GobblerService, tmp_path: Path
) -> None:
    project = client.project(new_project(service, owners=[me(), "alice"]))
    asset = project.asset("a")
    normal = asset.upload("v1", source(tmp_path, {"x": "1"}), spoof="alice")
    assert normal.summary().upload_user_id == "alice"
    probational = asset.upload("v2", source(tmp_path, {"x": "2"}), probation=True)
    assert probational.summary().on_probation is True
    assert asset.latest() == normal
    with pytest.raises(PermissionDeniedError):
        asset.upload("v3", source(tmp_path, {"x": "3"}), spoof="mallory")


def test_progress_callback(project: Project, tmp_path: Path) -> None:
    events = []
    files = {"a": "1", "b": "22", "sub/c": "333", "sub/d/e": "4444"}
    version = project.asset("a").upload("v1", source(tmp_path, files), progress=events.append, concurrency=3)
    assert {e.phase for e in events} == {"copy"}
    assert sorted(e.files_done for e in events) == [1, 2, 3, 4]
    assert {e.path for e in events} == set(files)
    assert {(e.files_total, e.bytes_total) for e in events} == {(4, 10)}
    assert max(e.bytes_done for e in events) == 10

    downloads = []
    version.fetch_directory(force_remote=True, progress=downloads.append)
    assert {e.phase for e in downloads} == {"download"}
    assert max(e.files_done for e in downloads) == downloads[0].files_total == len(downloads)
    assert max(e.bytes_done for e in downloads) >= 10


def test_progress_bar_is_quiet_without_a_terminal(
    project: Project, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    version = project.asset("a").upload("v1", source(tmp_path, {"a": "1", "b": "2"}), progress=True)
    version.fetch_directory(force_remote=True, progress=True)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_clone_makes_a_cheap_version(
    client: GobblerClient, service: GobblerService, project: Project, tmp_path: Path
) -> None:
    asset = project.asset("a")
    v1 = asset.upload(
        "v1", source(tmp_path, {"keep.txt": "keep", "sub/also.txt": "also", "change.txt": "old", "e": None})
    )
    usage = project.usage()
    clone = v1.clone(tmp_path / "clone")
    assert clone == tmp_path / "clone"
    base = service.registry / project.name / "a" / "v1"
    assert os.readlink(clone / "keep.txt") == str(base / "keep.txt")
    assert os.readlink(clone / "sub" / "also.txt") == str(base / "sub" / "also.txt")
    assert (clone / "e").is_dir()
    (clone / "change.txt").unlink()
    (clone / "change.txt").write_text("brand new")

    v2 = asset.upload("v2", clone)
    manifest = v2.manifest()
    assert manifest["keep.txt"].link is not None and manifest["keep.txt"].link.version == "v1"
    assert manifest["sub/also.txt"].link is not None
    assert manifest["change.txt"].link is None and manifest["change.txt"].size == 9
    assert "e" in manifest and manifest["e"].is_directory
    assert project.usage() == usage + 9
    # A clone of a version with links links to the same files.
    v2.clone(tmp_path / "clone2")
    assert asset.upload("v3", tmp_path / "clone2").manifest()["keep.txt"].link is not None


def test_fetch_directory_fetches_linked_bytes_once(
    service: GobblerService, proxy: LyingServer, make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    client = make_client(proxy.url, transport="remote")
    project = client.project(new_project(service))
    asset = project.asset("a")
    asset.upload("v1", source(tmp_path, {"a.txt": "shared"}))
    v2 = asset.upload(
        "v2",
        source(
            tmp_path,
            {"a.txt": "shared", "copy.txt": "shared", "alias": Link("a.txt"), "own.txt": "own", "e/f": None},
        ),
    )
    assert {p for p, e in v2.manifest().items() if e.link is not None} == {"a.txt", "copy.txt", "alias"}
    proxy.reset()

    directory = v2.fetch_directory()

    fetched = proxy.paths("/fetch/")
    prefix = f"/fetch/{project.name}/a/v2/"
    shared = [p for p in fetched if p in {prefix + "a.txt", prefix + "copy.txt", prefix + "alias"}]
    assert len(shared) == 1
    assert fetched.count(prefix + "own.txt") == 1
    assert fetched.count(prefix + "..manifest") <= 2
    assert proxy.count(f"/list?path={project.name}%252Fa%252Fv2&recursive=true") == 1
    for name in ("a.txt", "copy.txt", "alias"):
        assert (directory / name).read_text() == "shared"
    assert (directory / "e" / "f").is_dir()
    # Everything is cached now: a second call downloads no file again.
    proxy.reset()
    assert v2.fetch_directory() == directory
    assert [p for p in proxy.paths("/fetch/") if not p.rsplit("/", 1)[1].startswith("..")] == []


# ---------------------------------------------------------------------- permissions


def test_set_permissions_append_replace_dry_run(
    client: GobblerClient, service: GobblerService, project: Project
) -> None:
    file = service.registry / project.name / "..permissions"
    assert project.set_permissions(owners=["alice"]) == {"owners": [me(), "alice"]}
    assert project.permissions().owners == (me(), "alice")
    assert project.set_permissions(owners=["alice", me()]) == {"owners": [me(), "alice"]}

    project.set_permissions(uploaders=[Uploader(id="u1", trusted=True)])
    project.set_permissions(uploaders=[{"id": "u2", "until": "2030-06-01T12:00:00Z", "version": "v1"}])
    assert read_json(file)["uploaders"] == [
        {"id": "u1", "trusted": True},
        {"id": "u2", "version": "v1", "until": "2030-06-01T12:00:00Z"},
    ]

    assert project.set_permissions(global_write=True) == {"global_write": True}
    assert project.permissions().global_write is True

    assert project.set_permissions(owners=["bob"], uploaders=[], append=False) == {
        "owners": ["bob"],
        "uploaders": [],
    }
    assert read_json(file) == {"owners": ["bob"], "uploaders": [], "global_write": True}

    before = file.read_bytes()
    assert project.set_permissions(owners=["zed"], uploaders=[{"id": "y"}], dry_run=True) == {
        "owners": ["bob", "zed"],
        "uploaders": [{"id": "y"}],
    }
    assert project.set_permissions(owners=["zed"], append=False, dry_run=True) == {"owners": ["zed"]}
    assert file.read_bytes() == before
    assert request_files(service.staging) == []


def test_uploader_until_is_sent_as_written(service: GobblerService, project: Project) -> None:
    file = service.registry / project.name / "..permissions"
    project.set_permissions(uploaders=[{"id": "u", "until": "2030-06-01T12:00:00.123456789Z"}])
    project.set_permissions(uploaders=[{"id": "v", "until": "2031-01-01T01:00:00+01:00"}])
    project.set_permissions(uploaders=[Uploader.model_validate({"id": "w", "until": "2032-01-01T00:00:00Z"})])
    assert read_json(file)["uploaders"] == [
        {"id": "u", "until": "2030-06-01T12:00:00.123456789Z"},
        {"id": "v", "until": "2031-01-01T01:00:00+01:00"},
        {"id": "w", "until": "2032-01-01T00:00:00Z"},
    ]


def test_set_permissions_spoofing(project: Project) -> None:
    project.set_permissions(owners=["bob"], append=False)
    project.set_permissions(owners=["carol"], spoof="bob")
    assert project.permissions().owners == ("bob", "carol")
    with pytest.raises(PermissionDeniedError) as denied:
        project.set_permissions(owners=["x"], spoof="mallory")
    assert "not authorized to modify permissions" in (denied.value.reason or "")
    with pytest.raises(PermissionDeniedError) as spoof:
        project.set_permissions(owners=["x"], spoof=EXCLUDED_USER)
    assert "spoof" in (spoof.value.reason or "")
    assert project.permissions().owners == ("bob", "carol")


def test_asset_permissions(client: GobblerClient, service: GobblerService, project: Project) -> None:
    asset = project.asset("fresh")
    assert not asset.exists()
    assert asset.set_permissions(owners=["x"]) == {"owners": ["x"]}
    assert asset.exists()
    assert asset.set_permissions(uploaders=[{"id": "y", "asset": "elsewhere"}]) == {
        "uploaders": [{"id": "y", "asset": "elsewhere"}]
    }
    assert asset.permissions() == Permissions(owners=("x",), uploaders=(Uploader(id="y"),))
    asset.set_permissions(owners=["z"], spoof="x")
    assert asset.permissions().owners == ("x", "z")
    assert asset.set_permissions(owners=[], append=False) == {"owners": []}
    assert read_json(service.registry / project.name / "fresh" / "..permissions") == {
        "owners": [],
        "uploaders": [{"id": "y"}],
    }
    # Project permissions are untouched and no global_write was sent for the asset.
    assert project.permissions() == Permissions(owners=(me(),), uploaders=())


# ---------------------------------------------------------------------- probation


def test_approve_and_reject(client: GobblerClient, service: GobblerService, tmp_path: Path) -> None:
    project = client.project(new_project(service, owners=[me(), "alice"]))
    asset = project.asset("a")
    v1 = asset.upload("v1", source(tmp_path, {"x": "1"}), probation=True)
    with pytest.raises(PermissionDeniedError) as denied:
        v1.approve(spoof="bob")
    assert "probation" in (denied.value.reason or "")
    v1.approve(spoof="alice")
    assert v1.summary().on_probation is False
    assert asset.latest() == v1
    requests = request_files(service.staging)
    with pytest.raises(InvalidRequestError, match="not on probation"):
        v1.approve()
    with pytest.raises(InvalidRequestError, match="not on probation"):
        v1.reject()
    assert request_files(service.staging) == requests  # refused before a request file was written

    v2 = asset.upload("v2", source(tmp_path, {"x": "2"}), probation=True)
    with pytest.raises(PermissionDeniedError):
        v2.reject(spoof=EXCLUDED_USER)
    v2.reject(spoof="alice")
    assert not v2.exists()
    v3 = asset.upload("v3", source(tmp_path, {"x": "3"}), probation=True)
    v3.reject(force=True)
    assert asset.versions() == [v1]
    with pytest.raises(ServiceError):
        v1.reject(check=False)  # left to the service, which refuses it too
    with pytest.raises(NotFoundError):
        asset.version("nope").approve()
    with pytest.raises(NotFoundError):
        project.asset("nope").version("v").reject()


# ---------------------------------------------------------------------- upkeep


def test_refresh_latest(
    client: GobblerClient, service: GobblerService, project: Project, tmp_path: Path
) -> None:
    asset = project.asset("a")
    v1 = asset.upload("v1", source(tmp_path, {"x": "1"}))
    asset.upload("v2", source(tmp_path, {"x": "2"}), probation=True)
    (service.registry / project.name / "a" / "..latest").unlink()
    assert asset.latest() is None
    assert asset.refresh_latest() == v1
    assert asset.latest() == v1

    only_probational = project.asset("b")
    only_probational.upload("v1", source(tmp_path, {"x": "1"}), probation=True)
    assert only_probational.refresh_latest() is None
    with pytest.raises(NotFoundError):
        project.asset("nope").refresh_latest()


def test_refresh_usage(
    client: GobblerClient, service: GobblerService, project: Project, tmp_path: Path
) -> None:
    project.asset("a").upload("v1", source(tmp_path, {"x": "12345"}))
    (service.registry / project.name / "..usage").write_text('{"total": 999}')
    assert project.usage() == 999
    assert project.refresh_usage() == 5
    assert project.usage() == 5
    with pytest.raises(NotFoundError):
        client.project(unique("missing")).refresh_usage()


def test_remove(client: GobblerClient, service: GobblerService, project: Project, tmp_path: Path) -> None:
    asset = project.asset("a")
    v1 = asset.upload("v1", source(tmp_path, {"x": "1"}))
    v2 = asset.upload("v2", source(tmp_path, {"y": "22"}))
    v2.remove()
    assert not v2.exists()
    assert asset.latest() == v1
    v2.remove()  # already gone: fine

    (service.registry / project.name / "a" / "v1" / "..manifest").write_text("garbage")
    with pytest.raises(ServiceError) as broken:
        v1.remove()
    assert broken.value.status == 500
    v1.remove(force=True)
    assert asset.versions() == []

    other = project.asset("b")
    other.upload("v1", source(tmp_path, {"x": "1"}))
    (service.registry / project.name / "b" / "v1" / "..manifest").write_text("garbage")
    with pytest.raises(ServiceError):
        other.remove()
    other.remove(force=True)
    assert not other.exists()
    project.asset("never").remove()

    project.remove()
    assert not project.exists()
    project.remove()
    client.project(unique("never")).asset("a").version("v").remove()


def test_reindex_and_validate(
    client: GobblerClient, service: GobblerService, project: Project, tmp_path: Path
) -> None:
    version = project.asset("a").upload("v1", source(tmp_path, {"a.txt": "abc", "sub/b.txt": "b"}))
    version.validate()
    (service.registry / project.name / "a" / "v1" / "a.txt").write_text("changed!")
    with pytest.raises(ServiceError) as invalid:
        version.validate()
    assert invalid.value.status == 500 and "failed to validate" in (invalid.value.reason or "")
    version.reindex()
    assert version.manifest()["a.txt"].model_dump() == {"size": 8, "md5sum": md5("changed!")}
    version.validate()
    missing = project.asset("a").version("nope")
    with pytest.raises(NotFoundError):
        missing.reindex()
    with pytest.raises(NotFoundError):
        missing.validate()


def test_reroute_links(client: GobblerClient, service: GobblerService, tmp_path: Path) -> None:
    doomed = client.project(new_project(service))
    survivor = client.project(new_project(service))
    doomed_version = doomed.asset("a").upload("v1", source(tmp_path, {"f.txt": "data!"}))
    target = service.registry / doomed.name / "a" / "v1" / "f.txt"
    linked = survivor.asset("b").upload("v1", source(tmp_path, {"g": Link(str(target)), "own": "o"}))
    expected = [
        RerouteChange(
            is_copy=True, path=f"{survivor.name}/b/v1/g", source=f"{doomed.name}/a/v1/f.txt", usage=5
        )
    ]
    usage = survivor.usage()

    for to_delete in ([doomed_version], [doomed.asset("a")], [doomed], [{"project": doomed.name}]):
        assert client.reroute_links(to_delete, dry_run=True) == expected
    assert (service.registry / survivor.name / "b" / "v1" / "g").is_symlink()
    assert client.reroute_links([survivor.asset("b").version("v1")]) == []

    changes = client.reroute_links([{"project": doomed.name, "asset": "a", "version": "v1"}])
    assert changes == expected
    assert changes[0].model_dump() == {
        "copy": True,
        "path": f"{survivor.name}/b/v1/g",
        "source": f"{doomed.name}/a/v1/f.txt",
        "usage": 5,
    }
    assert not (service.registry / survivor.name / "b" / "v1" / "g").is_symlink()
    assert linked.manifest()["g"].link is None
    assert survivor.usage() == usage + 5
    doomed.remove()
    assert linked.fetch("g", force_remote=True).read_text() == "data!"


def test_version_handles_from_uploads_are_plain(project: Project, tmp_path: Path) -> None:
    version = project.asset("a").upload("v1", source(tmp_path, {"x": "1"}))
    assert isinstance(version, Version)
    assert version.path == f"{project.name}/a/v1"
