"""Uploads into a registry that runs out of inodes or space (issue 19, "Faults").

Attack pinned: a registry whose disk fills up during an upload, up to its very last write (the journal
entry in ``..logs``). The reference then removes the version but leaves ``..latest`` naming it and the
usage counted, so every later upload to the asset fails until an administrator intervenes. The embedded
service writes ``..usage``, ``..latest`` and the journal entry all or none (docs/service.md lists the
difference). The registry is a small tmpfs mounted for the test, which needs root.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .harness import Gobbler, Reply, entry, me

TREE = {"x.txt": "one", "z.txt": "three", "sub/w.txt": "four"}
_FILLER = "filler"


@pytest.fixture
def small_registry() -> Iterator[Path]:
    """A tmpfs of 4 MiB and 256 inodes, mounted for this test only."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs registry needs root")
    mount_point = Path(tempfile.mkdtemp(prefix="gobbler-small-registry-"))
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m,nr_inodes=256,mode=0755", "tmpfs", str(mount_point)],
            capture_output=True,
            text=True,
            check=False,
        )
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
        try:
            yield mount_point
        finally:
            if subprocess.run(["umount", str(mount_point)], check=False).returncode != 0:
                subprocess.run(["umount", "-l", str(mount_point)], check=True)
    finally:
        os.rmdir(mount_point)


def _snapshot(registry: Path) -> dict[str, bytes | None]:
    """Every path under the registry (but the filler) with a file's bytes, ``None`` for a directory."""
    found: dict[str, bytes | None] = {}
    for directory, subdirs, files in os.walk(registry):
        subdirs[:] = [name for name in subdirs if name != _FILLER]
        for name in subdirs:
            found[os.path.relpath(os.path.join(directory, name), registry)] = None
        for name in files:
            if name != _FILLER:
                path = os.path.join(directory, name)
                found[os.path.relpath(path, registry)] = Path(path).read_bytes()
    return found


class _Scarcity:
    """Leaves exactly ``free`` inodes (or blocks) free on the registry's filesystem, until reset."""

    def __init__(self, registry: Path, kind: str) -> None:
        self._kind = kind
        self._filler = registry / _FILLER
        if kind == "inodes":
            self._filler.mkdir()
        else:
            self._filler.touch()
        self._count = 0

    def _free(self) -> int:
        info = os.statvfs(self._filler)
        return info.f_favail if self._kind == "inodes" else info.f_bavail

    def leave(self, free: int) -> None:
        if self._kind == "inodes":
            while self._free() > free:
                (self._filler / str(self._count)).touch()
                self._count += 1
        else:
            info = os.statvfs(self._filler)
            size = os.stat(self._filler).st_size + (info.f_bavail - free) * info.f_frsize
            with open(self._filler, "r+b") as handle:
                os.posix_fallocate(handle.fileno(), 0, size)
        assert self._free() == free

    def reset(self) -> None:
        if self._kind == "inodes":
            for number in range(self._count):
                (self._filler / str(number)).unlink()
            self._count = 0
        else:
            os.truncate(self._filler, 0)


def _start(start_gobbler_variant: Callable[..., Gobbler], registry: Path) -> tuple[Gobbler, str]:
    """A service on ``registry`` and a project whose asset ``a`` exists without a latest version."""
    gobbler = start_gobbler_variant(registry=registry, admin=[me()])
    project = gobbler.create_project()
    gobbler.ok_upload(project, "a", "v1", {"x.txt": "one"})
    reply = gobbler.request("delete_version", {"project": project, "asset": "a", "version": "v1"})
    assert reply.status == 200, reply
    return gobbler, project


def _attempt(gobbler: Gobbler, project: str, scarcity: _Scarcity, free: int) -> tuple[Reply, str]:
    """Upload ``TREE`` as ``a/v2`` with ``free`` inodes (or blocks) left; the reply and the source's name."""
    source = gobbler.source(TREE)
    scarcity.leave(free)
    try:
        return gobbler.upload(project, "a", "v2", source), source
    finally:
        scarcity.reset()


@pytest.mark.embedded_only
@pytest.mark.parametrize("kind", ["inodes", "space"])
def test_an_upload_failing_at_any_write_changes_nothing(
    small_registry: Path, start_gobbler_variant: Callable[..., Gobbler], kind: str
) -> None:
    gobbler, project = _start(start_gobbler_variant, small_registry)
    scarcity = _Scarcity(small_registry, kind)
    before = _snapshot(small_registry)
    failures: list[str] = []
    # One more free inode (or block) each time, so each attempt fails one write later, until none does.
    for free in range(64):
        reply, _ = _attempt(gobbler, project, scarcity, free)
        if reply.status == 200:
            break
        assert reply.status == 500, reply
        assert _snapshot(small_registry) == before, f"with {free} free {kind}: {reply.reason}"
        failures.append(reply.reason)
    else:
        pytest.fail(f"the upload never succeeded; last failure: {failures[-1]}")

    assert len(failures) >= 5, failures
    # The last write to fail was the journal entry, the reference's last (and non-undone) write.
    assert f"{small_registry}/..logs/" in failures[-1], failures[-1]
    assert gobbler.latest(project, "a") == "v2"
    assert gobbler.usage(project) == sum(len(content) for content in TREE.values())
    assert gobbler.manifest(project, "a", "v2") == {path: entry(content) for path, content in TREE.items()}
    added = {"type": "add-version", "project": project, "asset": "a", "version": "v2", "latest": True}
    # Entries of the same second sort in random order: v1 added and deleted, then v2 added.
    logs = gobbler.logs_for(project)
    assert (len(logs), logs.count(added)) == (3, 1)


def test_an_upload_failing_in_the_transfer_changes_nothing(
    small_registry: Path, start_gobbler_variant: Callable[..., Gobbler]
) -> None:
    gobbler, project = _start(start_gobbler_variant, small_registry)
    scarcity = _Scarcity(small_registry, "inodes")
    before = _snapshot(small_registry)
    version_dir = f"{small_registry}/{project}/a/v2"
    reasons = []
    for free in range(3):
        reply, source = _attempt(gobbler, project, scarcity, free)
        assert reply.status == 500, reply
        assert _snapshot(small_registry) == before
        reasons.append(reply.reason.replace(str(gobbler.staging / source), "<source>"))

    full = "no space left on device"
    assert (
        reasons[0]
        == f'failed to create a new version directory at "{version_dir}"; mkdir {version_dir}: {full}'
    )
    assert reasons[1] == (
        'failed to transfer files from "<source>"; failed to create a directory at "<source>/sub"; '
        f"mkdir {version_dir}/sub: {full}"
    )
    found = re.fullmatch(
        r'failed to transfer files from "<source>"; failed to copy file at "(.*)" to "(.*)"; '
        r"failed to open output file at '(.*)'; open (.*): no space left on device",
        reasons[2],
    )
    assert found is not None, reasons[2]
    assert found[1] in TREE
    assert (found[2], found[3], found[4]) == (version_dir, *[f"{version_dir}/{found[1]}"] * 2)

    gobbler.ok_upload(project, "a", "v2", TREE)  # the name was not burned
    assert gobbler.latest(project, "a") == "v2"
