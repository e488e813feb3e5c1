"""Write functions: the same scenario through pygobbler and through gobbler_sdk.functional, on two projects
of one service, returns equal results and leaves equal registry contents."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pygobbler

import gobbler_sdk.functional as sdk

from .conftest import Env, make_tree, me, replace_project, snapshot

Scenario = Callable[[ModuleType, str, Path], Any]


def side_by_side(
    env: Env, names: tuple[str, str], tmp_path: Path, scenario: Scenario, recomputed: Sequence[str] = ()
) -> Any:
    """Run ``scenario(library, project, workdir)`` for both libraries; compare results and registries.

    Returns our result with the project name replaced by ``<P>``. ``recomputed``: see :func:`snapshot`.
    """
    theirs = scenario(pygobbler, names[0], tmp_path / "pyg")
    ours = scenario(sdk, names[1], tmp_path / "sdk")
    assert replace_project(ours, names[1]) == replace_project(theirs, names[0])
    assert snapshot(env, names[1], recomputed) == snapshot(env, names[0], recomputed)
    return replace_project(ours, names[1])


SOURCE = {
    "a.txt": "alpha",
    "sub/b.txt": "bravo",
    "sub/deeper/c.txt": "charlie",
    "empty/dir": None,
    ".dotfile": "hidden",
    "local-link": ("link", "sub/b.txt"),
}


def test_create_project(env: Env, names: tuple[str, str], tmp_path: Path) -> None:
    def scenario(lib: ModuleType, project: str, work: Path) -> Any:
        return lib.create_project(project, env.staging, env.url)

    assert side_by_side(env, names, tmp_path, scenario) is None
    assert snapshot(env, names[1])["..permissions"] == {"owners": [me()], "uploaders": []}


def test_create_project_with_permissions(env: Env, names: tuple[str, str], tmp_path: Path) -> None:
    uploaders = [
        {"id": "bob", "until": "2031-02-03T04:05:06.123456789-07:00", "trusted": False, "note": "dropped"},
        {"id": "carol", "asset": "only-this", "version": "v9", "trusted": True},
    ]

    def scenario(lib: ModuleType, project: str, work: Path) -> Any:
        return lib.create_project(
            project, env.staging, env.url, owners=["alice", "dave"], uploaders=uploaders
        )

    side_by_side(env, names, tmp_path, scenario)
    stored = snapshot(env, names[1])["..permissions"]
    assert stored["uploaders"][0] == {
        "id": "bob",
        "until": "2031-02-03T04:05:06.123456789-07:00",
        "trusted": False,
    }


def test_upload_directory_copies(env: Env, names: tuple[str, str], tmp_path: Path) -> None:
    def scenario(lib: ModuleType, project: str, work: Path) -> Any:
        lib.create_project(project, env.staging, env.url, uploaders=[{"id": "carol", "trusted": True}])
        staged_before = set(os.listdir(env.staging))
        first = make_tree(work / "v1", SOURCE)
        results = [lib.upload_directory(project, "a", "v1", str(first), env.staging, env.url)]
        # Deduplicated against v1, plus an absolute link into the registry and dotfiles kept.
        second = make_tree(
            work / "v2",
            {
                "a.txt": "alpha",
                "new.txt": "new",
                ".kept": "dot",
                "registry-link": ("link", os.path.join(env.registry, project, "a", "v1", "sub", "b.txt")),
            },
        )
        results.append(
            lib.upload_directory(project, "a", "v2", str(second), env.staging, env.url, ignore_dot=False)
        )
        third = make_tree(work / "v3", {"p.txt": "probational"})
        results.append(
            lib.upload_directory(
                project, "a", "v3", str(third), env.staging, env.url, probation=True, spoof="carol"
            )
        )
        fourth = make_tree(work / "v4", {"q.txt": "quebec"})
        results.append(
            lib.upload_directory(project, "b", "v1", str(fourth), env.staging, env.url, consume=True)
        )
        # The caller's directories are never modified.
        assert (first / "sub" / "deeper" / "c.txt").read_text() == "charlie"
        assert (fourth / "q.txt").read_text() == "quebec"
        # The private staging copies and the request files are gone.
        assert set(os.listdir(env.staging)) == staged_before
        return results

    assert side_by_side(env, names, tmp_path, scenario) == [None, None, None, None]
    stored = snapshot(env, names[1])
    assert stored["a/v2/registry-link"] == ("link", "../v1/sub/b.txt")
    assert stored["a/v2/..manifest"]["a.txt"]["link"]["version"] == "v1"
    assert ".dotfile" not in stored["a/v1/..manifest"] and ".kept" in stored["a/v2/..manifest"]
    assert stored["a/v3/..summary"]["upload_user_id"] == "carol"


def test_upload_in_place_from_allocated_directory(env: Env, names: tuple[str, str], tmp_path: Path) -> None:
    def scenario(lib: ModuleType, project: str, work: Path) -> Any:
        lib.create_project(project, env.staging, env.url)
        directory = lib.allocate_upload_directory(env.staging)
        assert os.path.dirname(directory) == env.staging and os.path.isdir(directory)
        make_tree(Path(directory), SOURCE)
        lib.upload_directory(project, "a", "v1", directory, env.staging, env.url)
        # Submitted in place without consuming: the directory is still whole.
        assert (Path(directory) / "sub" / "deeper" / "c.txt").read_text() == "charlie"
        unused = lib.allocate_upload_directory(env.staging, create=False)
        assert os.path.dirname(unused) == env.staging and not os.path.exists(unused)

    side_by_side(env, names, tmp_path, scenario)


def test_set_permissions(env: Env, names: tuple[str, str], tmp_path: Path) -> None:
    until = "2032-01-01T00:00:00.987654321Z"

    def scenario(lib: ModuleType, project: str, work: Path) -> Any:
        lib.create_project(project, env.staging, env.url, uploaders=[{"id": "erin", "until": until}])
        base = (project, env.registry, env.staging, env.url)
        results = [
            lib.set_permissions(*base, owners=["alice"], dry_run=True),
            lib.set_permissions(*base, owners=["alice", me()]),
            lib.set_permissions(*base, uploaders=[{"id": "bob", "trusted": True}], dry_run=True),
            lib.set_permissions(*base, uploaders=[{"id": "bob", "trusted": True}]),
            lib.set_permissions(*base, global_write=True, dry_run=True),
            lib.set_permissions(*base, global_write=True),
            lib.set_permissions(*base, asset="x", owners=["frank"]),
            lib.set_permissions(*base, asset="x", uploaders=[{"id": "gina", "until": until}], dry_run=True),
            lib.set_permissions(
                *base, asset="x", uploaders=[{"id": "gina", "until": until}], global_write=False
            ),
            lib.set_permissions(*base, owners=["alice", me()], append=False, spoof="alice"),
            lib.set_permissions(*base, uploaders=[], append=False),
            lib.fetch_permissions(project, env.registry, env.url),
            lib.fetch_permissions(project, env.registry, env.url, asset="x"),
        ]
        return results

    results = side_by_side(env, names, tmp_path, scenario)
    assert results[0] == {"owners": [me(), "alice"]}
    assert results[1] is None
    assert results[2] == {"uploaders": [{"id": "erin", "until": until}, {"id": "bob", "trusted": True}]}
    assert results[4] == {"global_write": True}
    assert results[11] == {"owners": ["alice", me()], "uploaders": [], "global_write": True}
    assert results[12] == {"owners": ["frank"], "uploaders": [{"id": "gina", "until": until}]}


def test_probation(env: Env, names: tuple[str, str], tmp_path: Path) -> None:
    def scenario(lib: ModuleType, project: str, work: Path) -> Any:
        lib.create_project(project, env.staging, env.url, owners=["olivia"])
        for version in ("v1", "v2", "v3"):
            source = make_tree(work / version, {f"{version}.txt": version})
            lib.upload_directory(project, "a", version, str(source), env.staging, env.url, probation=True)
        # v2 first: approving v1 afterwards cannot take over (its finish is not strictly later).
        lib.approve_probation(project, "a", "v2", env.staging, env.url, spoof="olivia")
        lib.approve_probation(project, "a", "v1", env.staging, env.url)
        lib.reject_probation(project, "a", "v3", env.staging, env.url, spoof="olivia")
        return [
            lib.fetch_latest(project, "a", env.registry, env.url),
            lib.list_versions(project, "a", env.registry, env.url),
        ]

    assert side_by_side(env, names, tmp_path, scenario) == ["v2", ["v1", "v2"]]


def test_refresh_latest_and_usage(env: Env, names: tuple[str, str], tmp_path: Path) -> None:
    def scenario(lib: ModuleType, project: str, work: Path) -> Any:
        lib.create_project(project, env.staging, env.url)
        for version, probation in (("v1", False), ("v2", False), ("v3", True)):
            source = make_tree(work / version, {"f.txt": f"{version} contents"})
            lib.upload_directory(
                project, "a", version, str(source), env.staging, env.url, probation=probation
            )
        source = make_tree(work / "only-probational", {"g.txt": "g"})
        lib.upload_directory(project, "b", "v1", str(source), env.staging, env.url, probation=True)
        # Make v2 the most recent regardless of how the uploads fell on second boundaries.
        summary = Path(env.registry, project, "a", "v1", "..summary")
        summary.write_text(
            json.dumps({**json.loads(summary.read_text()), "upload_finish": "2000-01-01T00:00:00Z"})
        )
        os.unlink(os.path.join(env.registry, project, "a", "..latest"))
        with open(os.path.join(env.registry, project, "..usage"), "w") as handle:
            handle.write('{ "total": 1 }')
        return [
            lib.refresh_latest(project, "a", env.staging, env.url),
            lib.refresh_latest(project, "b", env.staging, env.url),
            lib.refresh_usage(project, env.staging, env.url),
            lib.fetch_usage(project, env.registry, env.url),
        ]

    results = side_by_side(env, names, tmp_path, scenario)
    assert results[:2] == ["v2", None]
    assert results[2] == results[3] == len("v1 contents") * 3 + 1
    assert type(results[2]) is int


def test_removals(env: Env, names: tuple[str, str], tmp_path: Path) -> None:
    def scenario(lib: ModuleType, project: str, work: Path) -> Any:
        lib.create_project(project, env.staging, env.url)
        for asset, version in (("a", "v1"), ("a", "v2"), ("b", "v1"), ("c", "v1")):
            source = make_tree(work / asset / version, {"f.txt": f"{asset}/{version}"})
            lib.upload_directory(project, asset, version, str(source), env.staging, env.url)
        os.unlink(os.path.join(env.registry, project, "c", "v1", "..manifest"))
        lib.remove_version(project, "a", "v2", env.staging, env.url)
        lib.remove_version(project, "a", "never-existed", env.staging, env.url)
        lib.remove_asset(project, "b", env.staging, env.url)
        lib.remove_asset(project, "c", env.staging, env.url, force=True)
        lib.remove_asset(project, "never-existed", env.staging, env.url)
        return [
            lib.list_assets(project, env.registry, env.url),
            lib.fetch_latest(project, "a", env.registry, env.url),
            lib.fetch_usage(project, env.registry, env.url),
        ]

    assert side_by_side(env, names, tmp_path, scenario) == [["a"], "v1", len("a/v1") + len("c/v1")]

    def remove(lib: ModuleType, project: str, work: Path) -> Any:
        lib.remove_project(project, env.staging, env.url)
        lib.remove_project(project, env.staging, env.url)
        return project in lib.list_projects(env.registry, env.url)

    assert side_by_side(env, names, tmp_path, remove) is False


def test_reindex_and_validate(env: Env, names: tuple[str, str], tmp_path: Path) -> None:
    def scenario(lib: ModuleType, project: str, work: Path) -> Any:
        lib.create_project(project, env.staging, env.url)
        source = make_tree(work / "v1", {"a.txt": "alpha", "link": ("link", "a.txt")})
        lib.upload_directory(project, "a", "v1", str(source), env.staging, env.url)
        version = Path(env.registry) / project / "a" / "v1"
        (version / "added.txt").write_text("added later")
        (version / "new-dir").mkdir()
        results = [lib.reindex_version(project, "a", "v1", env.staging, env.url)]
        results.append(lib.validate_version(project, "a", "v1", env.staging, env.url))
        return results

    assert side_by_side(env, names, tmp_path, scenario) == [None, None]
    manifest = snapshot(env, names[1])["a/v1/..manifest"]
    assert manifest["added.txt"]["size"] == len("added later") and manifest["new-dir"] == {
        "size": 0,
        "md5sum": "",
    }


def test_clone_version(env: Env, names: tuple[str, str], tmp_path: Path) -> None:
    def scenario(lib: ModuleType, project: str, work: Path) -> Any:
        lib.create_project(project, env.staging, env.url)
        source = make_tree(work / "v1", {"a.txt": "alpha", "sub/b.txt": "bravo", "sub/c.txt": "charlie"})
        lib.upload_directory(project, "a", "v1", str(source), env.staging, env.url)
        destination = work / "clone"
        result = lib.clone_version(project, "a", "v1", str(destination), env.registry)
        links = {
            str(path.relative_to(destination)): os.readlink(path)
            for path in sorted(destination.rglob("*"))
            if path.is_symlink()
        }
        (destination / "sub" / "c.txt").unlink()
        (destination / "sub" / "c.txt").write_text("changed")
        lib.upload_directory(project, "a", "v2", str(destination), env.staging, env.url)
        return [result, links]

    result, links = side_by_side(env, names, tmp_path, scenario)
    assert result is None
    assert links["sub/b.txt"] == os.path.join(env.registry, "<P>", "a", "v1", "sub", "b.txt")
    stored = snapshot(env, names[1])
    assert stored["a/v2/..manifest"]["sub/b.txt"]["link"]["version"] == "v1"
    assert "link" not in stored["a/v2/..manifest"]["sub/c.txt"]


def test_reroute_links(env: Env, names: tuple[str, str], tmp_path: Path) -> None:
    def scenario(lib: ModuleType, project: str, work: Path) -> Any:
        lib.create_project(project, env.staging, env.url)
        for version in ("v1", "v2", "v3"):
            source = make_tree(work / version, {"same.txt": "shared bytes", f"{version}.txt": version})
            lib.upload_directory(project, "a", version, str(source), env.staging, env.url)
        doomed = [{"project": project, "asset": "a", "version": "v1"}]
        results = []
        for dry_run in (True, False):
            changes = lib.reroute_links(doomed, env.staging, env.url, dry_run=dry_run)
            assert type(changes) is list
            results.append(sorted(changes, key=lambda change: change["path"]))
        lib.remove_version(project, "a", "v1", env.staging, env.url)
        results.append(lib.reroute_links([{"project": project}], env.staging, env.url, dry_run=True))
        return results

    dry, real, nothing = side_by_side(env, names, tmp_path, scenario, recomputed=["a"])
    assert dry == real
    assert real == [
        {"copy": True, "path": "<P>/a/v2/same.txt", "source": "<P>/a/v1/same.txt", "usage": 12},
        {"copy": False, "path": "<P>/a/v3/same.txt", "source": "<P>/a/v1/same.txt", "usage": 0},
    ]
    assert nothing == []
