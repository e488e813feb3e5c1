"""Hostile neighbours in staging: files swapped for symlinks after the walk, FIFOs and other special files.

The swap tests drive the embedded service's own walk in-process: :meth:`Walk.scan` lists the source,
the test swaps a file as an attacker would, and :meth:`Walk.run` must refuse to read the swapped path.
That is the walk-to-open window an attacker races for, made deterministic without patching anything.
The end-to-end test runs the attacker as another account against the running service.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gobbler_sdk.server.config import ServerConfig
from gobbler_sdk.server.errors import RequestError
from gobbler_sdk.server.linkresolve import VersionRef
from gobbler_sdk.server.request_files import ReplayTable, Request, check_request_file
from gobbler_sdk.server.service import Service
from gobbler_sdk.server.walk import Mode, Walk

from .harness import Gobbler, Link, Reply, unique

SECRET = b"root-only secret\n"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file only its owner may read, outside any registry."""
    vault = tmp_path / "vault"
    vault.mkdir(mode=0o700)
    path = vault / "secret"
    path.write_bytes(SECRET)
    os.chmod(path, 0o600)
    return path


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """An embedded service object (no HTTP) over a fresh staging and registry."""
    staging, registry = tmp_path / "staging", tmp_path / "registry"
    staging.mkdir()
    registry.mkdir()
    (registry / "p" / "a" / "v1").mkdir(parents=True)
    running = Service(ServerConfig(staging=str(staging), registry=str(registry), concurrency=4))
    yield running
    running.close()


def _source(service: Service, files: dict[str, bytes]) -> Path:
    root = Path(service.config.staging) / "src"
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
    return root


def _swap_for_symlink(path: Path, target: Path) -> None:
    """Replace ``path`` atomically with a symlink to ``target`` (what the attacker does)."""
    temporary = path.with_name(path.name + ".swap")
    os.symlink(target, temporary)
    os.rename(temporary, path)


def _registry_bytes(service: Service) -> list[bytes]:
    found = []
    for directory, _, names in os.walk(service.config.registry):
        for name in names:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                found.append(Path(path).read_bytes())
    return found


def _walk(service: Service, root: Path, *, consume: bool = False) -> Walk:
    return Walk(service, str(root), VersionRef("p", "a", "v1"), Mode.TRANSFER, consume=consume)


@pytest.mark.parametrize("size", [10, 3 << 20])
@pytest.mark.parametrize("consume", [False, True])
def test_file_swapped_for_a_symlink_after_the_walk_is_refused(
    service: Service, secret: Path, size: int, consume: bool
) -> None:
    root = _source(service, {"keep": b"k", "sub/data": os.urandom(size)})
    walk = _walk(service, root, consume=consume)
    walk.scan()
    _swap_for_symlink(root / "sub" / "data", secret)
    with pytest.raises(RequestError) as caught:
        walk.run()
    assert caught.value.status == 500
    assert caught.value.reason == (
        f'symbolic link "sub/data" to file "{secret}" outside the registry directory is not allowed'
    )
    assert SECRET not in _registry_bytes(service)


def test_directory_swapped_for_a_symlink_after_the_walk_is_refused(service: Service, secret: Path) -> None:
    # The file's own name is no symlink: "sub" above it is. Opening by path would follow it; the check of
    # the opened file's inode against the listed one does not.
    root = _source(service, {"sub/secret": b"harmless"})
    walk = _walk(service, root)
    walk.scan()
    os.rename(root / "sub", root / "old")
    os.symlink(secret.parent, root / "sub")
    with pytest.raises(RequestError) as caught:
        walk.run()
    assert caught.value.status == 500
    assert caught.value.reason == '"sub/secret" was replaced after it was listed'
    assert SECRET not in _registry_bytes(service)


def test_file_replaced_by_another_file_after_the_walk_is_refused(service: Service) -> None:
    root = _source(service, {"f": b"listed"})
    walk = _walk(service, root)
    walk.scan()
    (root / "other").write_bytes(b"listed")
    os.rename(root / "other", root / "f")
    with pytest.raises(RequestError) as caught:
        walk.run()
    assert caught.value.reason == '"f" was replaced after it was listed'


def test_file_swapped_for_a_fifo_after_the_walk_does_not_block(service: Service) -> None:
    root = _source(service, {"f": b"listed"})
    walk = _walk(service, root)
    walk.scan()
    os.mkfifo(root / "pipe")
    os.rename(root / "pipe", root / "f")
    started = time.monotonic()
    with pytest.raises(RequestError) as caught:
        walk.run()
    assert time.monotonic() - started < 5
    assert caught.value.reason == '"f" was replaced after it was listed'


def test_file_resized_after_the_walk_is_refused(service: Service) -> None:
    root = _source(service, {"f": b"listed"})
    walk = _walk(service, root)
    walk.scan()
    with open(root / "f", "ab") as handle:
        handle.write(b" and more")
    with pytest.raises(RequestError) as caught:
        walk.run()
    assert caught.value.reason == '"f" changed size after it was listed'


def _request(service: Service, content: bytes) -> Path:
    path = Path(service.config.staging) / f"request-upload-{unique()}"
    path.write_bytes(content)
    return path


def test_request_file_swapped_for_a_symlink_after_its_checks_is_not_read(
    service: Service, secret: Path
) -> None:
    path = _request(service, b"{}")
    info = check_request_file(service.config, ReplayTable(), path.name)
    _swap_for_symlink(path, secret)
    with pytest.raises(RequestError) as caught:
        Request(service.config, path.name, info).read()
    assert (caught.value.status, caught.value.reason) == (400, "request file is a symbolic link now")


def test_request_file_swapped_for_a_fifo_after_its_checks_does_not_block(service: Service) -> None:
    path = _request(service, b"{}")
    info = check_request_file(service.config, ReplayTable(), path.name)
    os.mkfifo(path.with_name("pipe"))
    os.rename(path.with_name("pipe"), path)
    with pytest.raises(RequestError) as caught:
        Request(service.config, path.name, info).read()
    assert (caught.value.status, caught.value.reason) == (
        400,
        "request file was replaced after it was listed",
    )


# ---------------------------------------------------------------------- over HTTP (deliberate improvements)


@pytest.mark.embedded_only
def test_request_file_that_is_a_fifo_is_refused_at_once(gobbler: Gobbler) -> None:
    name = f"request-upload-{unique()}"
    os.mkfifo(gobbler.staging / name)
    try:
        started = time.monotonic()
        reply = gobbler.post(name)
        assert time.monotonic() - started < 5
    finally:
        (gobbler.staging / name).unlink()
    assert (reply.status, reply.reason) == (400, "path is a FIFO, not a regular file")


@pytest.mark.embedded_only
def test_fifo_in_an_upload_source_is_refused_and_releases_the_asset(gobbler: Gobbler, project: str) -> None:
    source = gobbler.source({"f": "1", "sub/g": "2"})
    os.mkfifo(gobbler.staging / source / "sub" / "pipe")
    started = time.monotonic()
    reply = gobbler.upload(project, "a", "v1", source)
    assert time.monotonic() - started < 5
    assert (reply.status, reply.reason) == (
        400,
        f'failed to transfer files from "{gobbler.staging / source}"; "sub/pipe" is a FIFO,'
        " not a regular file",
    )
    assert not gobbler.path(project, "a", "v1").exists()
    # Nothing is left holding the asset: the next upload goes through at once.
    gobbler.ok_upload(project, "a", "v1", {"f": "1"})


@pytest.mark.embedded_only
def test_whitelisted_link_to_a_fifo_is_refused(gobbler: Gobbler, project: str, whitelisted_dir: Path) -> None:
    pipe = whitelisted_dir / unique("pipe")
    os.mkfifo(pipe)
    try:
        reply = gobbler.upload(project, "a", "v1", {"f": "1", "l": Link(str(pipe))})
    finally:
        pipe.unlink()
    assert reply.status == 400
    assert re.fullmatch(
        f'failed to transfer files from "{re.escape(str(gobbler.staging))}/[^"/]+"; '
        f'target "{re.escape(str(pipe))}" of link "l" is a FIFO, not a regular file',
        reply.reason,
    ), reply.reason


# ---------------------------------------------------------------------- the attack, end to end

# Run as the attacker: build a source of many files, write an upload request, then on "go" swap every
# file for a symlink to the secret while the service walks the tree.
_ATTACKER = r"""
import json, os, sys
staging, source, request, secret, count = sys.argv[1:6]
root = os.path.join(staging, source)
os.mkdir(root, 0o755)
for i in range(int(count)):
    with open(os.path.join(root, f"f{i:05d}"), "wb") as handle:
        handle.write(b"x" * (i % 7))
payload = {"source": source, "project": sys.argv[6], "asset": "a", "version": sys.argv[7]}
with open(os.path.join(staging, request), "w") as handle:
    json.dump(payload, handle)
os.chmod(os.path.join(staging, request), 0o644)
print("ready", flush=True)
sys.stdin.readline()
for i in reversed(range(int(count))):
    path = os.path.join(root, f"f{i:05d}")
    os.symlink(secret, path + ".swap")
    os.rename(path + ".swap", path)
"""


def _nobody() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no 'nobody' account to run the attacker as")


def _system_python() -> str:
    # The test's own interpreter may live where another account cannot read it (a root-only pyenv).
    found = shutil.which("python3", path="/usr/bin:/bin:/usr/local/bin")
    if found is None:
        pytest.skip("no system python3 for the attacker account")
    return found


def _post_into(gobbler: Gobbler, name: str, replies: list[Reply]) -> None:
    replies.append(gobbler.post(name))


@pytest.mark.root_only
@pytest.mark.embedded_only  # the reference has a window of its own (it re-stats lazily, then opens by path)
def test_symlink_swap_race_as_another_user_never_leaks(gobbler: Gobbler, secret: Path) -> None:
    attacker = _nobody()
    os.chmod(secret.parent, 0o711)  # the attacker may name the secret, not read it
    project = gobbler.create_project(permissions={"owners": [attacker.pw_name]})
    python = _system_python()
    for attempt in range(2):
        source, request, version = unique("src"), f"request-upload-{unique()}", f"v{attempt}"
        arguments = [str(gobbler.staging), source, request, str(secret), "1000", project, version]
        child = subprocess.Popen(
            [python, "-c", _ATTACKER, *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            user=attacker.pw_uid,
            group=attacker.pw_gid,
        )
        assert child.stdout is not None and child.stdin is not None
        try:
            assert child.stdout.readline().strip() == "ready"
            replies: list[Reply] = []
            poster = threading.Thread(target=_post_into, args=(gobbler, request, replies))
            poster.start()
            child.stdin.write("go\n")
            child.stdin.flush()
            poster.join(60)
            assert child.wait(60) == 0
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            (gobbler.staging / request).unlink(missing_ok=True)
        reply = replies[0]
        if reply.status != 200:
            assert reply.status == 500, reply
            assert "outside the registry directory is not allowed" in reply.reason, reply
    # Whatever the timing, the secret never reached the registry.
    for directory, _, names in os.walk(gobbler.path(project)):
        for name in names:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                assert Path(path).read_bytes() != SECRET, path
