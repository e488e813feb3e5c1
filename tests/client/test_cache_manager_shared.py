"""A shared cache holding entries this user cannot read or remove (issue 19, "A shared cache can be forged").

The cache is filled by one account and handed to another (``nobody``); a few entries stay root's: a file
with mode ``0600`` (unreadable), a directory with mode ``0755`` (readable, but nothing in it can be
removed) and one with mode ``0700`` (cannot even be listed). The cache commands then run as ``nobody`` in
a forked child (``setuid``): each skips and reports those entries, and none lets a raw
:class:`PermissionError` out.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gobbler_sdk import GobblerClient, LocalPermissionError
from gobbler_sdk._cache import Cache
from gobbler_sdk._cache_manager import CacheManager
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import as_account, make_tree, unique

NOBODY = 65534

pytestmark = pytest.mark.root_only


@pytest.fixture
def shared(
    service: GobblerService, make_client: Callable[..., GobblerClient]
) -> Iterator[tuple[Path, str, str]]:
    """A cache of ``nobody`` holding two versions with root's entries in them; yields it and their keys."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to hand the cache to another account and keep some entries from it")
    base = Path(tempfile.mkdtemp(prefix="shared-cache-"))
    base.chmod(0o755)  # mkdtemp makes it 0700; nobody must reach the cache inside
    try:
        client = make_client(service.url, transport="remote", cache=base / "cache")
        project = new_project(service)
        keys = []
        for version in ("v1", "v2"):
            source = make_tree(service.staging / unique("src"), {"f.txt": "file", "sub/g.txt": "gg"})
            service.request(
                "upload", {"source": source.name, "project": project, "asset": "a", "version": version}
            )
            handle = client.project(project).asset("a").version(version)
            handle.fetch_directory()
            keys.append(handle.key)
        for directory, dirnames, filenames in os.walk(base / "cache"):
            for name in [directory, *(os.path.join(directory, n) for n in dirnames + filenames)]:
                os.chown(name, NOBODY, NOBODY, follow_symlinks=False)
        one, two = (client.cache.root / "REGISTRY" / key for key in keys)
        os.chown(one / "f.txt", 0, 0)
        os.chmod(
            one / "f.txt", 0o600
        )  # root's, unreadable by nobody (but removable: the directory is theirs)
        os.chown(two / "sub", 0, 0)  # root's directory: nobody can read g.txt but not remove it
        private = make_tree(two / "private", {"h.txt": "hhh"})
        os.chmod(private, 0o700)  # root's, cannot be listed by nobody
        yield base / "cache", keys[0], keys[1]
    finally:
        os.system(f"rm -rf -- '{base}'")


def as_nobody(action: Callable[[], Any]) -> dict[str, Any]:
    """Run ``action`` as ``nobody`` (see :func:`as_account`)."""
    return as_account(NOBODY, action)


def test_every_cache_command_skips_and_reports_what_this_user_cannot_use(
    shared: tuple[Path, str, str],
) -> None:
    root, one, two = shared
    manager = CacheManager(Cache(root))

    def scan() -> Any:
        report = manager.scan()
        return [[v.key, v.files, v.complete] for v in report.versions], [str(s) for s in report.skipped]

    def verify() -> Any:
        report = manager.verify()
        return [c.path for c in report], [str(s) for s in report.skipped]

    def prune() -> Any:
        report = manager.prune(max_size=0)
        return [v.key for v in report.versions], [str(s) for s in report.skipped]

    def remove() -> Any:
        return manager.remove(two.split("/")[0])

    def denied(path: str) -> str:
        return f"{path!r}: Permission denied"

    unreadable, unlistable = denied(f"{one}/f.txt"), denied(f"{two}/private")

    versions, skipped = as_nobody(scan)["value"]
    assert sorted(skipped) == [unreadable, unlistable]
    assert [key for key, _, _ in versions] == [one, two]
    assert versions[0][2] is False  # a file it cannot read is not cached for this user

    corrupt, skipped = as_nobody(verify)["value"]
    assert (corrupt, sorted(skipped)) == ([], [unreadable, unlistable])

    # Version one is nobody's but for an unreadable file in nobody's directory, which nobody may remove.
    stuck = sorted(denied(f"{two}/sub/{name}") for name in os.listdir(root / "REGISTRY" / two / "sub"))
    removed, skipped = as_nobody(prune)["value"]
    assert removed == [one]
    assert sorted(skipped) == sorted([unlistable, *stuck])
    assert not (root / "REGISTRY" / one).exists() and (root / "REGISTRY" / two / "sub" / "g.txt").exists()

    failure = as_nobody(remove)
    assert failure["error"] == LocalPermissionError.__name__
    assert all(entry in failure["message"] for entry in [unlistable, *stuck])
    assert f"{len(stuck) + 1} entries could not be removed" in failure["message"]
    assert sorted(os.listdir(root / "REGISTRY" / two)) == ["private", "sub"]

    # An asset directory nobody may even search: reported by the scan, and by a removal below it.
    asset = root / "REGISTRY" / two.rsplit("/", 1)[0]
    os.chown(asset, 0, 0)
    os.chmod(asset, 0o700)
    versions, skipped = as_nobody(scan)["value"]
    assert (versions, skipped) == ([], [denied(two.rsplit("/", 1)[0])])
    failure = as_nobody(lambda: manager.remove(two))
    assert failure["error"] == LocalPermissionError.__name__
    assert denied(two) in failure["message"]
