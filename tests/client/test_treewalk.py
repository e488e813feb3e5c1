"""The depth-safe walk under the staging and cache code: a directory moved mid-walk stops it.

The walk keeps one directory open and climbs back through ``..``; if someone moves a directory while the
walk is below it, ``..`` leads elsewhere. A walk that removes files would then go on removing, in the
other place, the names it still had to visit. It must stop instead.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gobbler_sdk._treewalk import StepKind, TreeChangedError, remove_tree, walk

from .support import make_tree


def test_a_directory_moved_during_the_walk_stops_it(tmp_path: Path) -> None:
    top = make_tree(tmp_path / "top", {"a/b/file": "x", "keep": "the walk's own"})
    elsewhere = make_tree(tmp_path / "elsewhere", {"keep": "someone else's"})
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    seen = []
    try:
        with pytest.raises(TreeChangedError):
            for step in walk(fd):
                seen.append((step.kind, step.path))
                if step.kind is StepKind.ENTRY and not stat.S_ISDIR(step.info.st_mode):
                    os.unlink(step.name, dir_fd=step.dir_fd)  # as a removal does
                if (step.kind, step.path) == (StepKind.ENTER, "a/b"):
                    os.rename(top / "a", elsewhere / "a")
    finally:
        os.close(fd)
    assert (elsewhere / "keep").read_text() == "someone else's"
    assert (StepKind.ENTRY, "keep") not in seen
    assert (top / "keep").read_text() == "the walk's own"


def test_a_removal_goes_past_what_it_cannot_remove(tmp_path: Path) -> None:
    top = make_tree(tmp_path / "top", {"a/one": "1", "b/two": "22", "c": "333"})
    os.symlink(tmp_path / "outside", top / "link")
    make_tree(tmp_path / "outside", {"safe": "s"})
    parent = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        done = remove_tree(parent, "top")
        assert (done.files, done.size, done.failures) == (4, 6, [])
        assert remove_tree(parent, "top").files == 0  # gone: nothing to do, nothing failed
    finally:
        os.close(parent)
    assert not (tmp_path / "top").exists() and (tmp_path / "outside" / "safe").exists()
