"""Hostile neighbours in staging: another account attacks a victim's pending request and upload copy.

The victim runs with umask 000 (the case the attack audit exploited: request files and copies then came out
world-writable). The attacker is a real process of the ``nobody`` account (a forked child that drops to
it with ``setuid``), so these tests need root and are skipped with the reason otherwise. Without the fix,
every attack below succeeded.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gobbler_sdk import ConfigurationError
from gobbler_sdk._staging import StagingCopy, check_tree, copy_plan
from gobbler_sdk._submit import Submitter

from .support import make_tree, snapshot

NOBODY = 65534

pytestmark = pytest.mark.skipif(
    os.getuid() != 0, reason="runs the attacker as the 'nobody' account, which needs root"
)


def attacks(request: Path, copy: Path) -> dict[str, str]:
    """What the attacker tries; run as ``nobody`` by :func:`as_nobody`."""
    results = {}

    def rewrite() -> None:
        with open(request, "r+b") as handle:
            handle.write(b'{"project": "victim", "permissions": {"owners": ["nobody"]}}')

    tries = {
        "rewrite the request": rewrite,
        "replace the request": lambda: os.rename(request, f"{request}.x"),
        "inject a file": lambda: open(copy / "injected.txt", "w").close(),
        "inject into a subdirectory": lambda: open(copy / "sub" / "injected.txt", "w").close(),
        "plant a directory symlink": lambda: os.symlink("/tmp", copy / "planted"),
        "remove the copy's file": lambda: os.unlink(copy / "a.txt"),
    }
    for name, action in tries.items():
        try:
            action()
            results[name] = "done"
        except PermissionError:
            results[name] = "denied"
    return results


def as_nobody(request: Path, copy: Path) -> dict[str, str]:
    """Run :func:`attacks` in a forked child that has become ``nobody`` (the venv's Python lives in /root,
    which ``nobody`` cannot enter, so a fresh interpreter is not an option)."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.close(reader)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.write(writer, json.dumps(attacks(request, copy)).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        output = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    answer: dict[str, str] = json.loads(output)
    return answer


@pytest.fixture
def staging() -> Iterator[Path]:
    """A world-writable sticky staging directory that ``nobody`` can reach (pytest's tmp dirs are 0700)."""
    made = Path(tempfile.mkdtemp(prefix="gobbler-hostile-"))
    made.chmod(0o1777)
    yield made
    shutil.rmtree(made, ignore_errors=True)


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("open_umask")
def test_another_account_cannot_touch_a_pending_request_or_copy(staging: Path, tmp_path: Path) -> None:
    source = make_tree(tmp_path / "source", {"a.txt": "alpha", "sub/b.txt": "bravo"})
    submitter = Submitter(httpx.Client(), staging)
    request, fd = submitter._write("set_permissions", b'{"project": "victim"}')
    copy = StagingCopy(staging)
    try:
        copy_plan(source, copy.fd, check_tree(source, ignore_dot=True), concurrency=1)
        before = snapshot(copy.path)

        results = as_nobody(request, copy.path)

        assert results == dict.fromkeys(results, "denied") and len(results) == 6
        assert request.read_bytes() == b'{"project": "victim"}'
        assert snapshot(copy.path) == before
        assert stat.S_IMODE(request.stat().st_mode) == 0o644
        assert stat.S_IMODE(copy.path.stat().st_mode) == 0o755
        assert stat.S_IMODE((copy.path / "sub").stat().st_mode) == 0o755
    finally:
        os.close(fd)
        request.unlink()
        copy.remove()


def test_a_name_planted_in_a_copy_is_never_written_through(staging: Path, tmp_path: Path) -> None:
    # Should anything already exist under a name the copy creates (the copy's root being writable by
    # others, as under umask 000 before), the copy fails instead of following it.
    source = make_tree(tmp_path / "source", {"sub/b.txt": "bravo", "c.txt": "charlie"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for planted in ("sub", "c.txt"):
        copy = StagingCopy(staging)
        try:
            target = elsewhere / planted
            os.symlink(target if planted == "sub" else elsewhere / "c.txt", copy.path / planted)
            if planted == "sub":
                target.mkdir()
            with pytest.raises(FileExistsError):
                copy_plan(source, copy.fd, check_tree(source, ignore_dot=True), concurrency=1)
            assert snapshot(elsewhere) == ({"sub"} if planted == "sub" else set())
        finally:
            copy.remove()
            shutil.rmtree(elsewhere)
            elsewhere.mkdir()


def test_a_copy_swapped_for_another_users_directory_is_refused(staging: Path) -> None:
    # In a staging directory without the sticky bit another user could rename a fresh copy away and put
    # their own directory (or a symlink) in its place before it is opened: the opened root is checked.
    import gobbler_sdk._staging as staging_module

    real_mkdir = os.mkdir

    def mkdir_then_swap(
        path: str | os.PathLike[str], mode: int = 0o777, *, dir_fd: int | None = None
    ) -> None:
        real_mkdir(path, mode, dir_fd=dir_fd)
        if dir_fd is None and os.path.basename(path).startswith("upload-"):
            os.rename(path, f"{path}.moved")
            real_mkdir(path)
            os.chown(path, NOBODY, NOBODY)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(staging_module.os, "mkdir", mkdir_then_swap)
        with pytest.raises(ConfigurationError, match="replaced by another user's directory"):
            StagingCopy(staging)
