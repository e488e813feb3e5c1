"""Removing trees at any depth (:mod:`gobbler_sdk.server.trees`), the service's one way to delete.

Attack pinned: a deep tree in staging or a version, including a symlink out of it, with the service near
its open-file limit; the removal must neither hold a descriptor per level nor follow the link (the
service tests cover depths beyond the recursion limit).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gobbler_sdk.server.trees import remove_tree

from .deep_trees import chain, remove, scratch

_LIMITED = """
import resource, sys
from gobbler_sdk.server.trees import remove_tree
resource.setrlimit(resource.RLIMIT_NOFILE, (32, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
remove_tree(sys.argv[1])
"""


def test_a_deep_tree_is_removed_with_one_descriptor() -> None:
    tmp_path = Path(scratch("gobbler-deep-remove-"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep me")
    try:
        # Ten times as deep as the descriptor limit allows a descriptor per level.
        chain(tmp_path, "deep", 320, "dd", link_to=outside)
        for number in range(50):
            (tmp_path / "deep" / f"f{number}").write_text("x")
        subprocess.run([sys.executable, "-c", _LIMITED, str(tmp_path / "deep")], check=True, timeout=120)
        assert sorted(os.listdir(tmp_path)) == ["outside"]
        assert (outside / "keep.txt").read_text() == "keep me"
    finally:
        remove(tmp_path)


def test_links_and_missing_paths(tmp_path: Path) -> None:
    target = tmp_path / "target"
    (target / "sub").mkdir(parents=True)
    (target / "sub" / "file").write_text("x")
    (tmp_path / "link").symlink_to(target)
    remove_tree(str(tmp_path / "link"))
    remove_tree(str(tmp_path / "missing"))
    assert sorted(os.listdir(tmp_path)) == ["target"]
    assert (target / "sub" / "file").read_text() == "x"
    remove_tree(str(target / "sub" / "file"))
    remove_tree(str(target))
    assert os.listdir(tmp_path) == []
