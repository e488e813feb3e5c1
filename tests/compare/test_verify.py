"""``version.verify(directory)`` (issue 21, part 3): is a local copy still exactly the version?"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient, LocalFileNotFoundError, LocalNotADirectoryError, Project, VerifyReport

from ..client.support import Link, make_tree

TREE = {"a.txt": "alpha\n", "sub/b.txt": "beta\n", "sub/deep/c.txt": "gamma\n", "hollow/leaf": None}


def test_a_local_dir_download_is_intact(client: GobblerClient, project: Project, tmp_path: Path) -> None:
    version = project.asset("data").upload("v1", make_tree(tmp_path / "src", TREE))
    copy = version.fetch_directory(local_dir=tmp_path / "copy")

    report = version.verify(copy)

    assert report == VerifyReport(version=version.key, directory=str(copy), checked=3)
    assert report.ok and report


def test_missing_extra_and_changed_paths_are_listed(
    client: GobblerClient, project: Project, tmp_path: Path
) -> None:
    version = project.asset("data").upload("v1", make_tree(tmp_path / "src", TREE))
    copy = version.fetch_directory(local_dir=tmp_path / "copy")
    (copy / "a.txt").write_text("ALPHA\n")  # same size, other bytes
    (copy / "sub" / "b.txt").write_text("beta, longer\n")
    os.remove(copy / "sub" / "deep" / "c.txt")
    os.rmdir(copy / "hollow" / "leaf")
    (copy / "stray.txt").write_text("x")
    (copy / "sub" / "nothing").mkdir()

    report = version.verify(copy)

    assert not report.ok
    assert report.missing == ("hollow/leaf", "sub/deep/c.txt")
    # The emptied directories are extra too: the version records neither as empty.
    assert report.extra == ("hollow", "stray.txt", "sub/deep", "sub/nothing")
    assert report.changed == ("a.txt", "sub/b.txt")
    assert report.to_json()["ok"] is False and report.to_json()["missing"] == list(report.missing)


def test_symlinks_are_not_followed_unless_asked(
    client: GobblerClient, project: Project, tmp_path: Path
) -> None:
    version = project.asset("data").upload("v1", make_tree(tmp_path / "src", TREE))
    copy = version.fetch_directory(local_dir=tmp_path / "copy")
    elsewhere = tmp_path / "elsewhere.txt"
    shutil.move(copy / "a.txt", elsewhere)
    os.symlink(elsewhere, copy / "a.txt")
    shutil.move(copy / "sub" / "deep", tmp_path / "deep")
    os.symlink(tmp_path / "deep", copy / "sub" / "deep")

    plain = version.verify(copy)
    followed = version.verify(copy, follow_symlinks=True)

    # A symlinked directory is never entered: its files count as missing, the link itself as extra.
    assert (plain.changed, plain.missing, plain.extra) == (("a.txt",), ("sub/deep/c.txt",), ("sub/deep",))
    assert (followed.changed, followed.missing, followed.extra) == ((), ("sub/deep/c.txt",), ("sub/deep",))


def test_a_file_where_the_version_has_a_directory_and_the_reverse(
    client: GobblerClient, project: Project, tmp_path: Path
) -> None:
    version = project.asset("data").upload("v1", make_tree(tmp_path / "src", TREE))
    copy = make_tree(
        tmp_path / "copy",
        {"a.txt/inside": "x", "sub/b.txt": "beta\n", "sub/deep/c.txt": "gamma\n", "hollow/leaf": "file"},
    )

    report = version.verify(copy)

    assert report.changed == ("a.txt", "hollow/leaf")
    assert report.missing == () and report.extra == ()


def test_a_missing_directory_is_a_typed_error(
    client: GobblerClient, project: Project, tmp_path: Path
) -> None:
    version = project.asset("data").upload("v1", make_tree(tmp_path / "src", {"a": "a"}))
    with pytest.raises(LocalFileNotFoundError):
        version.verify(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(LocalNotADirectoryError):
        version.verify(tmp_path / "file")


def test_a_mounted_version_directory_with_links_verifies_when_following(
    client: GobblerClient, project: Project, tmp_path: Path
) -> None:
    asset = project.asset("data")
    asset.upload("v1", make_tree(tmp_path / "v1", TREE))
    v2 = asset.upload("v2", make_tree(tmp_path / "v2", {**TREE, "l": Link("a.txt")}))
    registry_copy = Path(client.registry) / v2.key

    # The registry's own directory holds symlinks (deduplicated files) and internal '..' files.
    report = v2.verify(registry_copy, follow_symlinks=True)

    assert report.missing == () and report.changed == ()
    assert set(report.extra) == {"..links", "..manifest", "..summary", "sub/..links", "sub/deep/..links"}
