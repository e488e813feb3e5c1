"""The mirror recipe of docs/comparing.md: ``changes`` and ``fetch_directory`` keep a copy of the latest."""

from __future__ import annotations

from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient, Project

from ..client.support import make_tree
from .mirror_recipe import keep_mirrored


@pytest.mark.timeout(60)  # the recipe follows the journal forever: a missed event would hang
def test_a_mirror_follows_the_latest_version(client: GobblerClient, project: Project, tmp_path: Path) -> None:
    asset = project.asset("data")
    v1 = asset.upload("v1", make_tree(tmp_path / "v1", {"a.txt": "one\n", "sub/b.txt": "bee\n"}))
    mirror = tmp_path / "mirror"
    updates = keep_mirrored(asset, mirror, interval=0.2)

    assert next(updates) == v1 and v1.verify(mirror).ok

    v2 = asset.upload("v2", make_tree(tmp_path / "v2", {"a.txt": "two\n", "c.txt": "sea\n"}))
    assert next(updates) == v2
    assert v2.verify(mirror).ok and not (mirror / "sub").exists()

    v2.remove()
    assert next(updates) == v1
    assert v1.verify(mirror).ok
    # Nothing else was written beside the mirror (a cache appears only for remote reads).
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "cache") == ["mirror", "v1", "v2"]
    updates.close()
