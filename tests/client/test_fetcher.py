"""The fast ``/fetch`` path: large bodies hashed while received, verification switch, proxy fallback."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient, IntegrityError
from gobbler_sdk._fetcher import direct_connection_possible
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import Answer, LyingServer, make_tree, unique
from .test_hostile import serve_version


def test_large_file_is_hashed_while_received(
    service: GobblerService, make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    # Over 4 MiB, so the body is received on one thread and hashed on another.
    data = os.urandom(9 * 1024 * 1024 + 123)
    name = new_project(service)
    source = make_tree(service.staging / unique("src"), {"big.bin": data})
    service.request("upload", {"source": source.name, "project": name, "asset": "a", "version": "v1"})
    client = make_client(service.url, transport="remote")
    local = client.project(name).asset("a").version("v1").fetch("big.bin")
    assert local.read_bytes() == data
    assert local.parent == client.cache_dir / "REGISTRY" / name / "a" / "v1"
    assert [p for p in os.listdir(local.parent) if p.startswith(".gobbler-")] == []


@pytest.mark.parametrize("size", [10, 6 * 1024 * 1024])
def test_verification_can_be_turned_off(
    lying: LyingServer, make_client: Callable[..., GobblerClient], tmp_path: Path, size: int
) -> None:
    good = os.urandom(size)
    bad = bytes(reversed(good))
    serve_version(lying, {"f.bin": good})
    lying.answer("/fetch/p/a/v/f.bin", Answer(body=bad))
    client = make_client(lying.url, transport="remote", cache=tmp_path / "cache", registry="/nowhere")
    version = client.project("p").asset("a").version("v")
    with pytest.raises(IntegrityError, match=hashlib.md5(bad).hexdigest()):
        version.fetch("f.bin")
    assert not (tmp_path / "cache" / "REGISTRY" / "p" / "a" / "v" / "f.bin").exists()
    manifests = lying.count("/fetch/p/a/v/..manifest")
    fresh = make_client(lying.url, transport="remote", cache=tmp_path / "other", registry="/nowhere")
    unchecked = fresh.project("p").asset("a").version("v").fetch("f.bin", verify=False)
    assert unchecked.read_bytes() == bad
    assert lying.count("/fetch/p/a/v/..manifest") == manifests  # nothing to verify against, nothing read


def test_proxies_send_file_downloads_through_httpx(
    monkeypatch: pytest.MonkeyPatch, service: GobblerService, make_client: Callable[..., GobblerClient]
) -> None:
    for variable in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    assert direct_connection_possible("http://127.0.0.1:8080")
    assert not direct_connection_possible("ftp://127.0.0.1/")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    assert not direct_connection_possible("http://gobbler.example:8080")
    monkeypatch.setenv("NO_PROXY", "gobbler.example")
    assert direct_connection_possible("http://gobbler.example:8080")

    monkeypatch.delenv("NO_PROXY")
    proxied = make_client("http://gobbler.example:8080", transport="remote")
    assert proxied._remote_transport().fetcher is None
    monkeypatch.delenv("HTTP_PROXY")
    direct = make_client(service.url, transport="remote")
    assert direct._remote_transport().fetcher is not None
