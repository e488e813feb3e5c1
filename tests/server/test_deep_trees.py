"""Trees deeper than Python's recursion limit, and deeper than ``PATH_MAX`` (issue 19, "Depth").

Attack pinned: a user (or a damaged registry) with a directory chain ~2,000 levels deep. Recursive
removals raised ``RecursionError``, so deletions answered 500 half-done and a failed upload left its
version behind, burning its name. The reference handles all of it; every test here passes on both.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gobbler_sdk.testing import GobblerService

from ..conftest import GOBBLER_BINARY
from .deep_trees import LEAF_CONTENT, PATH_MAX, chain, fitting_depth, remove, scratch
from .harness import Gobbler, entry, me, unique

DEPTH = 2000


@pytest.fixture(scope="module")
def gobbler() -> Iterator[Gobbler]:
    """A service of this module's own, with staging and registry in memory where possible (fast mkdir)."""
    staging, registry = scratch("gobbler-deep-staging-"), scratch("gobbler-deep-registry-")
    os.chmod(staging, 0o1777)
    try:
        with GobblerService(staging, registry, admin=[me()], binary=GOBBLER_BINARY) as service:
            driver = Gobbler(service)
            yield driver
            driver.close()
    finally:
        remove(staging)
        remove(registry)


@pytest.fixture
def cleanup() -> Iterator[list[Path]]:
    """Paths removed (at any depth) after the test, before the shared service tries to."""
    paths: list[Path] = []
    yield paths
    for path in paths:
        remove(path)


def test_deep_upload_round_trip(gobbler: Gobbler, project: str, cleanup: list[Path]) -> None:
    cleanup.append(gobbler.path(project))
    source = unique("src")
    cleanup.append(gobbler.staging / source)
    depth = fitting_depth(gobbler.staging / source, gobbler.path(project, "a", "v1"))
    assert depth > 1500, "the temporary directories' paths are too long for a deep enough tree"
    leaf = chain(gobbler.staging, source, depth)

    reply = gobbler.upload(project, "a", "v1", source)
    assert (reply.status, reply.body) == (200, {"status": "SUCCESS"})
    assert gobbler.manifest(project, "a", "v1") == {leaf: entry(LEAF_CONTENT)}
    assert gobbler.usage(project) == len(LEAF_CONTENT)
    listing = gobbler.list(f"{project}/a/v1", recursive=True)
    assert (listing.status, sorted(listing.body)) == (200, sorted(["..manifest", "..summary", leaf]))
    reply = gobbler.request("validate_version", {"project": project, "asset": "a", "version": "v1"})
    assert reply.status == 200, reply

    reply = gobbler.request("delete_version", {"project": project, "asset": "a", "version": "v1"})
    assert reply.status == 200, reply
    assert not os.path.lexists(gobbler.path(project, "a", "v1"))
    assert gobbler.usage(project) == 0
    assert gobbler.latest(project, "a") is None


def test_upload_beyond_path_max_fails_cleanly(gobbler: Gobbler, project: str, cleanup: list[Path]) -> None:
    cleanup.append(gobbler.path(project))
    gobbler.ok_upload(project, "a", "v0", {"f": "x"})
    before = (gobbler.usage(project), gobbler.latest(project, "a"), gobbler.logs_for(project))
    source = unique("src")
    cleanup.append(gobbler.staging / source)
    chain(gobbler.staging, source, DEPTH, "dd")

    reply = gobbler.upload(project, "a", "v1", source)
    assert reply.status == 500, reply
    found = re.fullmatch(
        r'failed to transfer files from "([^"]*)"; failed to create a directory at "([^"]*)"; '
        r"mkdir (.*): file name too long",
        reply.reason,
    )
    assert found is not None, reply
    source_dir, destination = str(gobbler.staging / source), str(gobbler.path(project, "a", "v1"))
    assert found[1] == source_dir
    below = found[2].removeprefix(source_dir)
    assert below.startswith("/dd/")
    # The first directory whose copy would be beyond the limit, in both services.
    assert found[3] == destination + below
    assert len(found[3]) >= PATH_MAX > len(found[3]) - len("/dd")

    assert not os.path.lexists(destination)
    assert (gobbler.usage(project), gobbler.latest(project, "a"), gobbler.logs_for(project)) == before
    gobbler.ok_upload(project, "a", "v1", {"f": "y"})  # the name was not burned


# reject_probation removes versions the same way; the probation purge test in test_maintenance.py
# rejects a deep version.
@pytest.mark.parametrize("action", ["delete_version", "delete_asset", "delete_project"])
def test_deletions_remove_trees_beyond_path_max(
    gobbler: Gobbler, project: str, cleanup: list[Path], action: str
) -> None:
    cleanup.append(gobbler.path(project))
    gobbler.ok_upload(project, "a", "v1", {"f": "x"})
    gobbler.ok_upload(project, "b", "v1", {"g": "y"})
    chain(gobbler.path(project, "a", "v1"), "extra", DEPTH, "dd")
    payload: dict[str, Any] = {"project": project, "asset": "a", "version": "v1"}
    if action == "delete_asset":
        del payload["version"]
    elif action == "delete_project":
        payload = {"project": project}

    reply = gobbler.request(action, payload)
    assert (reply.status, reply.body) == (200, {"status": "SUCCESS"})
    gone = {"delete_asset": gobbler.path(project, "a"), "delete_project": gobbler.path(project)}
    assert not os.path.lexists(gone.get(action, gobbler.path(project, "a", "v1")))
    if action != "delete_project":
        assert gobbler.usage(project) == 1  # only b/v1 is left
