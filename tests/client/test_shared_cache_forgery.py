"""A forgery planted in a shared cache before the first read (issue 19, "A shared cache can be forged").

In a cache shared between accounts (mode ``1777``), ``nobody`` creates a version's directories first and
puts there the genuine ``..summary`` (it is public), a forged ``..manifest``, a file matching it and the
origin record. The victim, another account (a forked child with ``setuid``), then reads the file and the
version's directory: a cached document this account did not write is checked against the service before
anything is verified against it, so the victim gets the service's bytes, or, when it may not replace the
planted entries, a typed error that says why. Never the forged bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gobbler_sdk import GobblerClient
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import as_account, make_tree, unique

NOBODY = 65534
VICTIM = 4242
HONEST = b"honest bytes\n"
FORGED = b"forged!\n"

pytestmark = pytest.mark.root_only


@pytest.fixture
def base() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root, to act as two other accounts")
    made = Path(tempfile.mkdtemp(prefix="forged-cache-"))
    made.chmod(0o755)
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


def plant(service: GobblerService, base: Path, mode: int) -> tuple[Path, str]:
    """The shared cache with nobody's forgery of a fresh version in it; returns the cache and the key."""
    project = new_project(service)
    source = make_tree(service.staging / unique("src"), {"f.txt": HONEST})
    service.request("upload", {"source": source.name, "project": project, "asset": "a", "version": "v1"})
    key = f"{project}/a/v1"
    # What anyone can make: the genuine summary and origin record, as any client of the service keeps them.
    scratch = base / "scratch"
    with GobblerClient(service.url, transport="remote", cache=scratch) as client:
        client.project(project).asset("a").version("v1").summary()
    cache = base / "cache"
    cache.mkdir()
    cache.chmod(0o1777)
    shutil.copytree(scratch, cache, dirs_exist_ok=True)
    version = cache / "REGISTRY" / key
    entry = {"size": len(FORGED), "md5sum": hashlib.md5(FORGED).hexdigest()}
    (version / "..manifest").write_text(json.dumps({"f.txt": entry}))
    (version / "f.txt").write_bytes(FORGED)
    for directory, dirnames, filenames in os.walk(cache):
        for name in dirnames + filenames:
            os.chown(os.path.join(directory, name), NOBODY, NOBODY)
        for name in dirnames:
            os.chmod(os.path.join(directory, name), mode)
    return cache, key


def as_victim(action: Callable[[], Any]) -> dict[str, Any]:
    """Run ``action`` as ``the victim`` (see :func:`as_account`)."""
    return as_account(VICTIM, action)


@pytest.mark.parametrize("read", ["fetch_file", "fetch_directory"])
def test_a_planted_version_the_victim_may_replace_is_read_from_the_service(
    service: GobblerService, base: Path, read: str
) -> None:
    # The planted directories are writable by everyone (so that the victim's client can fill them).
    cache, key = plant(service, base, 0o777)

    def victim_reads() -> str:
        with GobblerClient(service.url, transport="remote", cache=cache) as client:
            if read == "fetch_file":
                local = client.fetch_file(f"{key}/f.txt")
            else:
                local = client.project(key.split("/")[0]).asset("a").version("v1").fetch_directory() / "f.txt"
            return local.read_text()

    assert as_victim(victim_reads) == {"value": HONEST.decode()}


def test_a_planted_version_the_victim_may_not_replace_is_refused_typed(
    service: GobblerService, base: Path
) -> None:
    # The planted directories are nobody's alone: nothing in them can be replaced or removed.
    cache, key = plant(service, base, 0o755)

    def victim_reads() -> str:
        with GobblerClient(service.url, transport="remote", cache=cache) as client:
            return client.fetch_file(f"{key}/f.txt").read_text()

    outcome = as_victim(victim_reads)
    assert "value" not in outcome, outcome
    assert outcome["error"] == "LocalPermissionError", outcome
    assert outcome["message"].startswith(
        f"{key}: its cached manifest is not the service's, and its cached copy cannot be dropped ("
    ), outcome
