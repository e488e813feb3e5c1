"""A cache that knows what it holds: re-uploads, deletions and a second service never hand out old bytes."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient, GobblerFileSystem, NotFoundError
from gobbler_sdk.testing import GobblerService

from ..conftest import GOBBLER_BINARY
from .conftest import new_project
from .support import LyingServer, make_tree, me, unique


def upload(service: GobblerService, project: str, contents: str) -> None:
    source = make_tree(service.staging / unique("src"), {"f.txt": contents, "sub/g.txt": contents * 2})
    service.request("upload", {"source": source.name, "project": project, "asset": "a", "version": "v1"})


def replace(service: GobblerService, project: str, contents: str) -> None:
    """Delete v1 and upload it again with other bytes; a second passes so the upload time differs."""
    service.request("delete_version", {"project": project, "asset": "a", "version": "v1"})
    time.sleep(1.1)
    upload(service, project, contents)


def read_all(client: GobblerClient, project: str) -> tuple[str, str, str, str]:
    version = client.project(project).asset("a").version("v1")
    directory = version.fetch_directory()
    return (
        version.fetch("f.txt").read_text(),
        (directory / "sub" / "g.txt").read_text(),
        version.manifest()["f.txt"].md5sum,
        version.read_bytes("f.txt").decode(),
    )


def expected(contents: str) -> tuple[str, str, str, str]:
    return contents, contents * 2, hashlib.md5(contents.encode()).hexdigest(), contents


def test_a_version_uploaded_again_is_read_again_by_a_new_client(
    service: GobblerService, make_client: Callable[..., GobblerClient], caplog: pytest.LogCaptureFixture
) -> None:
    name = new_project(service)
    upload(service, name, "old")
    assert read_all(make_client(service.url, transport="remote"), name) == expected("old")
    replace(service, name, "new")
    with caplog.at_level(logging.INFO, logger="gobbler_sdk"):
        assert read_all(make_client(service.url, transport="remote"), name) == expected("new")
    assert any("uploaded again" in r.getMessage() or "changed" in r.getMessage() for r in caplog.records)
    # The cache holds the new version only, and verifies.
    assert make_client(service.url, transport="remote").cache.verify() == []


def test_a_long_running_client_notices_after_the_revalidation_interval(
    service: GobblerService, make_client: Callable[..., GobblerClient]
) -> None:
    name = new_project(service)
    upload(service, name, "old")
    client = make_client(service.url, transport="remote", revalidate_after=0.5)
    assert read_all(client, name) == expected("old")
    replace(service, name, "new")
    time.sleep(0.6)
    assert read_all(client, name) == expected("new")


def test_this_clients_own_changes_are_seen_at_once(
    service: GobblerService, make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    name = new_project(service)
    client = make_client(service.url, transport="remote")
    asset = client.project(name).asset("a")
    asset.upload("v1", make_tree(tmp_path / "one", {"f.txt": "old", "sub/g.txt": "oldold"}))
    assert read_all(client, name) == expected("old")
    asset.version("v1").remove()
    with pytest.raises(NotFoundError):
        asset.version("v1").manifest()
    time.sleep(1.1)
    asset.upload("v1", make_tree(tmp_path / "two", {"f.txt": "new", "sub/g.txt": "newnew"}))
    assert read_all(client, name) == expected("new")


def test_this_clients_approve_reject_and_reindex_are_confirmed_at_once(
    service: GobblerService, proxy: LyingServer, make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    name = new_project(service)
    client = make_client(proxy.url, transport="remote")
    asset = client.project(name).asset("a")
    version = asset.upload("v1", make_tree(tmp_path / "one", {"f.txt": "one"}))
    version.manifest()
    proxy.reset()
    version.manifest()
    assert proxy.paths("/fetch/") == []  # kept and confirmed: no request
    version.reindex()
    proxy.reset()
    version.manifest()
    assert proxy.paths("/fetch/") != []  # this client changed it: confirmed again at once

    trial = asset.upload("v2", make_tree(tmp_path / "two", {"f.txt": "two"}), probation=True)
    assert trial.summary().on_probation
    trial.approve()
    assert trial.summary().on_probation is False  # no overwrite=True needed
    doomed = asset.upload("v3", make_tree(tmp_path / "three", {"f.txt": "three"}), probation=True)
    assert doomed.manifest()["f.txt"].size == 5
    doomed.reject()
    with pytest.raises(NotFoundError):
        doomed.manifest()


@pytest.fixture
def second() -> Iterator[GobblerService]:
    with GobblerService(admin=[me()], binary=GOBBLER_BINARY) as running:
        yield running


def test_two_services_with_the_same_names_never_share_an_entry(
    service: GobblerService, second: GobblerService, make_client: Callable[..., GobblerClient]
) -> None:
    name = new_project(service)
    second.request("create_project", {"project": name})
    upload(service, name, "first")
    upload(second, name, "second")
    assert read_all(make_client(service.url, transport="remote"), name) == expected("first")
    assert read_all(make_client(second.url, transport="remote"), name) == expected("second")
    assert read_all(make_client(service.url, transport="remote"), name) == expected("first")


def test_a_cache_without_origins_is_not_trusted(
    service: GobblerService, make_client: Callable[..., GobblerClient], caplog: pytest.LogCaptureFixture
) -> None:
    name = new_project(service)
    upload(service, name, "old")
    client = make_client(service.url, transport="remote")
    read_all(client, name)
    # A cache filled by an older release: no record of its service, and (say) a stale file and summary.
    cache = client.cache_dir
    shutil.rmtree(cache / "ORIGINS")
    (cache / "REGISTRY" / name / "a" / "v1" / "..summary").unlink()
    with caplog.at_level(logging.INFO, logger="gobbler_sdk"):
        assert read_all(make_client(service.url, transport="remote"), name) == expected("old")
    assert any("nothing records" in r.getMessage() for r in caplog.records)


def test_gobbler_urls_and_the_command_line_see_a_version_uploaded_again(
    service: GobblerService, tmp_path: Path
) -> None:
    name = new_project(service)
    upload(service, name, "old")
    cache = tmp_path / "shared-cache"
    env = {**os.environ, "GOBBLER_URL": service.url, "GOBBLER_CACHE": str(cache)}

    def through_the_filesystem() -> str:
        fs = GobblerFileSystem(
            service_url=service.url, transport="remote", cache=str(cache), skip_instance_cache=True
        )
        target = tmp_path / f"got-{time.monotonic_ns()}"
        fs.get_file(f"{name}/a/v1/f.txt", str(target))  # a verified copy through the cache
        fs.client.close()
        return target.read_text()

    def through_the_command_line() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "gobbler_sdk", "--transport", "remote", "cat", f"{name}/a/v1/f.txt"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=True,
        )
        return done.stdout

    assert (through_the_filesystem(), through_the_command_line()) == ("old", "old")
    replace(service, name, "new")
    assert (through_the_filesystem(), through_the_command_line()) == ("new", "new")
