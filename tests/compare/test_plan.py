"""``asset.plan_upload(...)`` (issue 21, part 2): the plan, entry by entry, is what the real upload stores."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient, InvalidRequestError, Manifest, NotFoundError, Project, UploadPlan

from ..client.support import Link, make_tree

BASE = {"keep.txt": "kept bytes\n", "sub/also.txt": "also kept\n", "gone.txt": "only in v1\n"}


def tree_v2(registry: Path, project: str) -> dict[str, str | Link | None]:
    return {
        "keep.txt": "kept bytes\n",  # same bytes as v1/keep.txt: deduplicated
        "renamed.txt": "also kept\n",  # same bytes as v1/sub/also.txt under another name: deduplicated
        "fresh.txt": "brand new\n",
        "deep/er/fresh2.bin": "more new bytes\n",
        "local": Link("fresh.txt"),
        "deep/chain": Link("../local"),
        "deep/abs-inside": Link("../keep.txt"),
        "outside": Link(str(registry / project / "other" / "o1" / "o.txt")),
        ".dotfile": "hidden\n",
        ".dotdir/inner.txt": "hidden too\n",
        "..internal": "never uploaded\n",
        "only-skipped/.x": "hidden\n",
        "empty/leaf": None,
    }


def assert_plan_matches(plan: UploadPlan, manifest: Manifest, version_key: str) -> None:
    groups = [set(plan.transferred), set(plan.linked), set(plan.local_links), set(plan.empty_directories)]
    assert sum(len(group) for group in groups) == len(manifest)
    assert set().union(*groups) == set(manifest)
    project, asset, version = version_key.split("/")
    for path, entry in manifest.items():
        if path in plan.transferred:
            assert entry.link is None and entry.md5sum != "", path
            assert entry.size == plan.sizes[path], path
        elif path in plan.linked:
            assert entry.link is not None and entry.link.registry_path == plan.linked[path], path
            assert entry.size == plan.sizes[path], path
        elif path in plan.local_links:
            assert entry.link is not None, path
            assert (entry.link.project, entry.link.asset, entry.link.version) == (project, asset, version)
            assert entry.link.path == plan.local_links[path], path
        else:
            assert entry.is_directory, path
    assert plan.stored_bytes == manifest.stored_size


def test_plan_matches_the_upload_that_follows(
    client: GobblerClient, project: Project, tmp_path: Path
) -> None:
    registry = Path(client.registry)
    project.asset("other").upload("o1", make_tree(tmp_path / "other", {"o.txt": "elsewhere\n"}))
    asset = project.asset("data")
    asset.upload("v1", make_tree(tmp_path / "v1", BASE))
    source = make_tree(tmp_path / "v2", tree_v2(registry, project.name))

    plan = asset.plan_upload("v2", source, ignore_dot=True)

    # Nothing was created or staged by the plan.
    assert not asset.version("v2").exists()
    p = project.name
    assert plan.version == f"{p}/data/v2" and plan.latest == f"{p}/data/v1"
    assert plan.transferred == ("deep/er/fresh2.bin", "fresh.txt")
    assert plan.linked == {
        "keep.txt": f"{p}/data/v1/keep.txt",
        "outside": f"{p}/other/o1/o.txt",
        "renamed.txt": f"{p}/data/v1/sub/also.txt",
    }
    assert plan.local_links == {"deep/abs-inside": "keep.txt", "deep/chain": "local", "local": "fresh.txt"}
    assert plan.skipped == ("..internal", ".dotdir", ".dotfile", "only-skipped/.x")
    assert plan.empty_directories == ("empty/leaf", "only-skipped")
    assert plan.stored_bytes == len("brand new\n") + len("more new bytes\n")
    assert plan.linked_bytes == len("kept bytes\n") + len("also kept\n") + len("elsewhere\n")

    asset.upload("v2", source, ignore_dot=True)
    assert_plan_matches(plan, asset.version("v2").manifest(), plan.version)


def test_plan_with_dotfiles_and_without_a_latest_version(
    client: GobblerClient, project: Project, tmp_path: Path
) -> None:
    source = make_tree(
        tmp_path / "src", {"a.txt": "a\n", ".hidden": "h\n", "..never": "n\n", "d/.also": "x\n", "e": None}
    )
    asset = project.asset("fresh")

    plan = asset.plan_upload("v1", source, ignore_dot=False)

    assert plan.latest is None and plan.linked == {}
    assert plan.transferred == (".hidden", "a.txt", "d/.also")
    assert plan.skipped == ("..never",) and plan.empty_directories == ("e",)
    asset.upload("v1", source, ignore_dot=False)
    assert_plan_matches(plan, asset.version("v1").manifest(), plan.version)


def test_plan_of_a_directory_already_in_staging(
    client: GobblerClient, project: Project, tmp_path: Path
) -> None:
    asset = project.asset("inplace")
    asset.upload("v1", make_tree(tmp_path / "v1", BASE))
    staged = client.allocate_upload_directory()
    make_tree(staged, {"keep.txt": "kept bytes\n", "new.txt": "new\n", "l": Link("new.txt"), ".dot": "d"})
    before = sorted(os.listdir(client.staging))

    plan = asset.plan_upload("v2", staged, ignore_dot=True)

    assert sorted(os.listdir(client.staging)) == before
    asset.upload("v2", staged, ignore_dot=True)
    assert_plan_matches(plan, asset.version("v2").manifest(), plan.version)


def test_duplicates_in_the_latest_version_link_to_one_of_them(
    client: GobblerClient, project: Project, tmp_path: Path
) -> None:
    asset = project.asset("twins")
    asset.upload("v1", make_tree(tmp_path / "v1", {"a.txt": "twin\n", "b.txt": "twin\n"}))
    source = make_tree(tmp_path / "v2", {"c.txt": "twin\n"})

    plan = asset.plan_upload("v2", source, ignore_dot=True)
    asset.upload("v2", source, ignore_dot=True)

    # The service may pick either twin; the plan names the first, and the bytes are the same either way.
    assert plan.linked == {"c.txt": f"{project.name}/twins/v1/a.txt"}
    link = asset.version("v2").manifest()["c.txt"].link
    assert link is not None and link.registry_path in {
        f"{project.name}/twins/v1/{n}" for n in ("a.txt", "b.txt")
    }


def test_plan_refuses_what_the_upload_would_refuse(
    client: GobblerClient, project: Project, tmp_path: Path
) -> None:
    registry = Path(client.registry)
    asset = project.asset("refused")
    asset.upload("v1", make_tree(tmp_path / "v1", {"a.txt": "a\n"}))
    before = sorted(os.listdir(client.staging))

    with pytest.raises(InvalidRequestError, match=f"version {project.name}/refused/v1 already exists"):
        asset.plan_upload("v1", tmp_path / "v1")
    with pytest.raises(NotFoundError, match="project no-such-project does not exist"):
        client.project("no-such-project").asset("a").plan_upload("v1", tmp_path / "v1")
    dangling = make_tree(tmp_path / "dangling", {"x": Link("nowhere")})
    with pytest.raises(InvalidRequestError, match="a dangling symlink"):
        asset.plan_upload("v2", dangling)
    # A link into the registry to a file its version's manifest does not list.
    stray = registry / project.name / "refused" / "v1" / "..manifest"
    unlisted = make_tree(tmp_path / "unlisted", {"m": Link(str(stray))})
    with pytest.raises(InvalidRequestError, match=re.escape("an internal '..' file")):
        asset.plan_upload("v2", unlisted)
    absent = make_tree(tmp_path / "absent", {"m": Link(str(stray.parent / "absent.txt"))})
    with pytest.raises(InvalidRequestError, match=f"not in the manifest of {project.name}/refused/v1"):
        asset.plan_upload("v2", absent)

    assert sorted(os.listdir(client.staging)) == before
    assert not asset.version("v2").exists()


def test_plan_refuses_a_link_into_a_probational_version(
    client: GobblerClient, project: Project, tmp_path: Path
) -> None:
    registry = Path(client.registry)
    project.asset("maybe").upload("p1", make_tree(tmp_path / "p1", {"a.txt": "a\n"}), probation=True)
    source = make_tree(tmp_path / "src", {"l": Link(str(registry / project.name / "maybe" / "p1" / "a.txt"))})

    with pytest.raises(InvalidRequestError, match="in a probational version"):
        project.asset("data").plan_upload("v1", source)


def test_plan_with_followed_symlinks(client: GobblerClient, project: Project, tmp_path: Path) -> None:
    outside = make_tree(tmp_path / "outside", {"far.txt": "far away\n", "dir/near.txt": "near\n"})
    source = make_tree(
        tmp_path / "src",
        {"own.txt": "own\n", "far": Link(str(outside / "far.txt")), "linked-dir": Link(str(outside / "dir"))},
    )
    asset = project.asset("followed")
    with pytest.raises(InvalidRequestError, match="follow_symlinks=True"):
        asset.plan_upload("v1", source)

    plan = asset.plan_upload("v1", source, follow_symlinks=True, ignore_dot=True)

    assert plan.transferred == ("far", "linked-dir/near.txt", "own.txt")
    assert plan.stored_bytes == len("far away\n") + len("near\n") + len("own\n")
    asset.upload("v1", source, follow_symlinks=True, ignore_dot=True)
    assert_plan_matches(plan, asset.version("v1").manifest(), plan.version)


def test_upload_with_dry_run_returns_the_plan_and_creates_nothing(
    client: GobblerClient, project: Project, tmp_path: Path
) -> None:
    source = make_tree(tmp_path / "src", {"a.txt": "a\n", ".hidden": "h\n"})
    asset = project.asset("dry")
    plan = asset.upload("v1", source, dry_run=True)
    assert isinstance(plan, UploadPlan)
    assert plan == asset.plan_upload("v1", source)
    assert plan.transferred == (".hidden", "a.txt")  # dotfiles are sent unless ignore_dot=True
    assert asset.upload("v1", source, dry_run=True, ignore_dot=True).transferred == ("a.txt",)
    assert not asset.version("v1").exists()
