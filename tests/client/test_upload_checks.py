"""What the service would refuse is refused by the client first, before anything is written to staging.

Trees with special files, dangling links, links to directories or outside the tree and the registry; names
the service accepts but cannot store; a staging directory that is missing, unwritable or not the service's;
and local failures, which come out typed. Run against the embedded service and, unchanged, the binary.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

import gobbler_sdk._writes as client_module
from gobbler_sdk import (
    ConfigurationError,
    GobblerClient,
    GobblerError,
    InvalidNameError,
    InvalidRequestError,
    LocalFileNotFoundError,
    Project,
)
from gobbler_sdk.server.config import ServerConfig
from gobbler_sdk.server.runner import EmbeddedServer
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import Link, make_tree, snapshot, unique


def source(tmp_path: Path, tree: dict[str, str | bytes | Link | None]) -> Path:
    return make_tree(tmp_path / unique("src"), tree)


def test_refused_entries_are_listed_before_anything_is_copied(
    project: Project, service: GobblerService, tmp_path: Path
) -> None:
    outside = make_tree(tmp_path / "outside", {"file.txt": "out", "dir/x": "x"})
    directory = source(
        tmp_path,
        {
            "ok.txt": "ok",
            "sub/ok2.txt": "ok",
            "local": Link("ok.txt"),
            "to-dir": Link("sub"),
            "dangling": Link("missing.txt"),
            "abs-outside": Link(str(outside / "file.txt")),
            "dir-outside": Link(str(outside / "dir")),
            "to-dotfile": Link(".hidden"),
            ".hidden": "skipped with ignore_dot",
        },
    )
    os.mkfifo(directory / "sub" / "pipe")
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(directory / "sock"))
    before = snapshot(service.staging)

    with pytest.raises(InvalidRequestError) as caught:
        project.asset("a").upload("v1", directory, ignore_dot=True)

    message = str(caught.value)
    for offending in ("to-dir", "dangling", "abs-outside", "dir-outside", "to-dotfile", "sub/pipe", "sock"):
        assert f"{directory / offending}: " in message
    assert "refuse 7 entries" in message and "follow_symlinks=True" in message
    for fine in ("ok.txt", "local"):
        assert f"{directory / fine}:" not in message
    assert snapshot(service.staging) == before
    assert not project.asset("a").version("v1").exists()


def test_follow_symlinks_uploads_the_targets(
    project: Project, service: GobblerService, tmp_path: Path
) -> None:
    outside = make_tree(tmp_path / "outside", {"file.txt": "out", "dir/x": "x", "dir/deeper/y": "yy"})
    asset = project.asset("a")
    asset.upload("v1", source(tmp_path, {"base.txt": "base"}))
    registry_file = service.registry / project.name / "a" / "v1" / "base.txt"
    directory = source(
        tmp_path,
        {
            "own.txt": "own",
            "abs-outside": Link(str(outside / "file.txt")),
            "dir-outside": Link(str(outside / "dir")),
            "to-own-dir": Link("sub"),
            "sub/z": "z",
            "local": Link("own.txt"),
            "registry": Link(str(registry_file)),
        },
    )
    os.symlink(outside / "dir", outside / "dir" / "deeper" / "loop")  # a cycle, refused even when following

    with pytest.raises(InvalidRequestError, match="loops back"):
        asset.upload("v2", directory, follow_symlinks=True)
    (outside / "dir" / "deeper" / "loop").unlink()
    version = asset.upload("v2", directory, follow_symlinks=True)

    manifest = version.manifest()
    plain = {path: (entry.size, entry.link) for path, entry in manifest.items()}
    assert plain["abs-outside"] == (3, None)
    assert plain["dir-outside/x"] == (1, None) and plain["dir-outside/deeper/y"] == (2, None)
    assert plain["to-own-dir/z"] == (1, None) and plain["sub/z"] == (1, None)
    # Links inside the tree and into the registry are still links.
    local_link, registry_link = manifest["local"].link, manifest["registry"].link
    assert local_link is not None and local_link.path == "own.txt"
    assert registry_link is not None and (registry_link.version, registry_link.path) == ("v1", "base.txt")
    assert version.fetch("dir-outside/deeper/y").read_text() == "yy"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("v\x00x", "NUL"),
        (".", "'.'"),
        ("x" * 256, "255 bytes"),
        ("é" * 128, "255 bytes"),
        ("bad\udc80", "surrogate"),
    ],
    ids=["nul", "dot", "256-ascii", "256-bytes-utf8", "surrogate"],
)
def test_names_the_service_cannot_store_are_refused_first(
    client: GobblerClient, project: Project, service: GobblerService, tmp_path: Path, name: str, reason: str
) -> None:
    directory = source(tmp_path, {"x": "x"})
    before = snapshot(service.staging)
    with pytest.raises(InvalidNameError, match=reason):
        project.asset("a").upload(name, directory)
    with pytest.raises(InvalidNameError, match=reason):
        project.asset(name)
    with pytest.raises(InvalidNameError, match=reason):
        client.create_project(name)
    assert snapshot(service.staging) == before


def test_unusual_names_the_service_accepts_still_work(project: Project, tmp_path: Path) -> None:
    for name in ("tab\there", "bell\x07", "x" * 255, "é" * 127):
        version = project.asset("a").upload(name, source(tmp_path, {"f": name.encode("utf-8", "replace")}))
        assert version.exists()
        assert version.fetch("f").read_text() == name


def test_a_staging_directory_that_is_not_the_services(
    service: GobblerService, make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    other = tmp_path / "other-staging"
    other.mkdir()
    client = make_client(service.url, staging=other)
    name = new_project(service)
    with pytest.raises(ConfigurationError) as caught:
        client.project(name).asset("a").upload("v1", source(tmp_path, {"x": "x"}))
    assert str(other) in str(caught.value) and str(service.staging) in str(caught.value)
    assert os.listdir(other) == []
    with pytest.raises(ConfigurationError):
        client.project(name).set_permissions(owners=["someone"])
    assert os.listdir(other) == []
    # The same directory under another spelling is fine.
    same = make_client(service.url, staging=str(service.staging) + "/./")
    same.project(name).asset("a").upload("v1", source(tmp_path, {"x": "x"}))


def test_a_missing_staging_directory(
    service: GobblerService, make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    client = make_client(service.url, staging=tmp_path / "nowhere")
    with pytest.raises(ConfigurationError, match="does not exist"):
        client.project(new_project(service)).asset("a").upload("v1", source(tmp_path, {"x": "x"}))
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to make a staging directory this user cannot write")
def test_an_unwritable_staging_directory_says_what_to_do(
    make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    # Root may write anywhere, so the client runs as nobody in a forked child.
    top = Path(tempfile.mkdtemp(prefix="gobbler-closed-"))  # pytest's tmp dirs are 0700: nobody cannot enter
    os.chmod(top, 0o755)
    staging = top / "closed"
    staging.mkdir(mode=0o755)
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        message = b""
        try:
            os.setgid(65534)
            os.setuid(65534)
            try:
                GobblerClient("http://127.0.0.1:9", staging=staging, registry="/nowhere").checked_staging()
            except ConfigurationError as exc:
                message = str(exc).encode()
            os.write(writer, message)
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        message_text = pipe.read().decode()
    os.waitpid(pid, 0)
    shutil.rmtree(top)
    assert str(staging) in message_text and "1777" in message_text


def test_local_failures_are_typed(
    project: Project, service: GobblerService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = source(tmp_path, {"a.txt": "a", "vanishing.txt": "v"})
    scan = client_module.check_tree

    def scan_then_remove(*args: object, **kwargs: object) -> object:
        plan = scan(*args, **kwargs)  # type: ignore[arg-type]
        (directory / "vanishing.txt").unlink()
        return plan

    monkeypatch.setattr(client_module, "check_tree", scan_then_remove)
    before = snapshot(service.staging)
    with pytest.raises(LocalFileNotFoundError) as caught:
        project.asset("a").upload("v1", directory)
    assert isinstance(caught.value, GobblerError) and isinstance(caught.value, FileNotFoundError)
    assert caught.value.filename == str(directory / "vanishing.txt")
    assert snapshot(service.staging) == before


def test_the_embedded_service_warns_about_a_staging_directory_not_1777(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    staging, registry = tmp_path / "staging", tmp_path / "registry"
    staging.mkdir(mode=0o755)
    registry.mkdir()
    os.chmod(staging, 0o755)
    with caplog.at_level(logging.WARNING, logger="gobbler_sdk.server"):
        EmbeddedServer(ServerConfig(str(staging), str(registry), port=0)).close()
    assert any("mode 0755, not 1777" in record.getMessage() for record in caplog.records)
    caplog.clear()
    os.chmod(staging, 0o1777)
    with caplog.at_level(logging.WARNING, logger="gobbler_sdk.server"):
        EmbeddedServer(ServerConfig(str(staging), str(registry), port=0)).close()
    assert not caplog.records
    assert stat.S_IMODE(staging.stat().st_mode) == 0o1777
