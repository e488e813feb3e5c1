"""A client killed mid-upload leaves its copy and request file; the next upload (or a prune) sweeps them.

The killed client is a real subprocess, ``kill -9``-ed while its submission waits for a lying server's
answer; "in use" is the flock the uploading process holds, which only the kernel releases.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient
from gobbler_sdk._staging import COPY_MARKER, allocate_directory, sweep_abandoned

from .support import Answer, LyingServer, make_tree

CHILD = """
import sys
from gobbler_sdk import GobblerClient
client = GobblerClient(sys.argv[1], staging=sys.argv[2], registry="/nowhere", cache=sys.argv[4])
client.project("p").asset("a").upload("v1", sys.argv[3])
"""

DAY = 24 * 60 * 60


@pytest.fixture
def staging(tmp_path: Path, lying: LyingServer) -> Path:
    made = tmp_path / "staging"
    made.mkdir()
    made.chmod(0o1777)
    lying.staging = made
    return made


def leftovers(staging: Path) -> list[str]:
    return sorted(name for name in os.listdir(staging) if name.startswith(("upload-", "request-")))


@pytest.fixture
def killed_upload(lying: LyingServer, staging: Path, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A child uploading through ``lying``, which never answers; yields it while it waits."""
    lying.answer_prefix("/new/", Answer(delay=30.0), method="POST")
    source = make_tree(tmp_path / "source", {"a.txt": "alpha", "sub/b.txt": "bravo" * 1000})
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, lying.url, str(staging), str(source), str(tmp_path / "cache")]
    )
    try:
        deadline = time.monotonic() + 20
        while len(leftovers(staging)) < 2 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
        assert len(leftovers(staging)) == 2, "the child never reached its submission"
        yield child
    finally:
        child.kill()
        child.wait()


def backdate(staging: Path, seconds: float) -> None:
    past = time.time() - seconds
    for name in leftovers(staging):
        path = staging / name
        if path.is_dir():
            os.utime(path / COPY_MARKER, (past, past))
        os.utime(path, (past, past))


def test_a_killed_uploads_leftovers_are_swept_only_once_abandoned(
    staging: Path, killed_upload: subprocess.Popen[bytes]
) -> None:
    [request, copy] = leftovers(staging)
    assert copy.startswith("upload-") and request.startswith("request-upload-")
    # Alive: in use, whatever its age.
    backdate(staging, 2 * DAY)
    assert sweep_abandoned(staging, older_than=0) == 0
    assert len(leftovers(staging)) == 2

    os.kill(killed_upload.pid, signal.SIGKILL)
    killed_upload.wait()
    assert len(leftovers(staging)) == 2  # what kill -9 leaves behind
    os.utime(staging / copy)  # touched just now: too young for a sweep asking for an hour
    assert sweep_abandoned(staging, older_than=3600) == 1  # only the old request file
    assert leftovers(staging) == [copy]
    assert sweep_abandoned(staging, older_than=0) == 1
    assert leftovers(staging) == []


def test_the_next_upload_sweeps_and_spares_what_is_not_abandoned(
    lying: LyingServer,
    staging: Path,
    tmp_path: Path,
    killed_upload: subprocess.Popen[bytes],
    make_client: Callable[..., GobblerClient],
) -> None:
    os.kill(killed_upload.pid, signal.SIGKILL)
    killed_upload.wait()
    backdate(staging, 2 * DAY)
    # Not abandoned: an in-place directory (no marker), a fresh request file, a file of no upload.
    in_place = allocate_directory(staging)
    (in_place / "data.txt").write_text("mine")
    fresh_request = staging / "request-upload-fresh"
    fresh_request.write_text("{}")
    other = staging / "unrelated.txt"
    other.write_text("x")
    old = time.time() - 2 * DAY
    for path in (in_place, other):
        os.utime(path, (old, old))

    lying.answer_prefix("/new/", Answer(body={"status": "SUCCESS"}), method="POST")
    client = make_client(lying.url, staging=staging, registry="/nowhere")
    client.project("p").asset("a").upload("v2", make_tree(tmp_path / "next", {"x": "x"}))

    assert sorted(os.listdir(staging)) == sorted([in_place.name, fresh_request.name, other.name])
    assert (in_place / "data.txt").read_text() == "mine"


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to create entries owned by another account")
def test_other_users_leftovers_are_never_swept(staging: Path) -> None:
    theirs = staging / "upload-theirs"
    theirs.mkdir()
    (theirs / COPY_MARKER).write_text("")
    request = staging / "request-upload-theirs"
    request.write_text("{}")
    old = time.time() - 2 * DAY
    for path in (theirs / COPY_MARKER, theirs, request):
        os.chown(path, 65534, 65534, follow_symlinks=False)
        os.utime(path, (old, old))
    assert sweep_abandoned(staging, older_than=0) == 0
    assert sorted(os.listdir(staging)) == ["request-upload-theirs", "upload-theirs"]


def test_cache_prune_sweeps_abandoned_staging_copies(
    lying: LyingServer,
    staging: Path,
    killed_upload: subprocess.Popen[bytes],
    make_client: Callable[..., GobblerClient],
    tmp_path: Path,
) -> None:
    os.kill(killed_upload.pid, signal.SIGKILL)
    killed_upload.wait()
    client = make_client(lying.url, staging=staging, registry="/nowhere", cache=tmp_path / "cache")
    assert client.cache.prune().staging_entries == 0  # younger than a day: perhaps still wanted
    assert len(leftovers(staging)) == 2
    backdate(staging, 2 * DAY)
    report = client.cache.prune()
    assert report.staging_entries == 2
    assert leftovers(staging) == []
