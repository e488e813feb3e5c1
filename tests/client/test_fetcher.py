"""The fast ``/fetch`` path: large bodies hashed while received, verification switch, proxy fallback."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient, IntegrityError, NotFoundError, ServiceUnavailableError
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
    # Nothing is hashed; the manifest is still read once, since its size bounds what may be written.
    assert lying.count("/fetch/p/a/v/..manifest") == manifests + 1


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
    assert proxied._connections.remote().fetcher is None
    monkeypatch.delenv("HTTP_PROXY")
    direct = make_client(service.url, transport="remote")
    assert direct._connections.remote().fetcher is not None


FILES = {f"f{i}.txt": f"file number {i}".encode() for i in range(6)}


@pytest.fixture
def directory_client(
    lying: LyingServer, make_client: Callable[..., GobblerClient], tmp_path: Path
) -> GobblerClient:
    serve_version(lying, FILES)
    return make_client(
        lying.url, transport="remote", cache=tmp_path / "cache", registry="/nowhere", retries=2
    )


def test_many_requests_in_flight_from_one_thread(lying: LyingServer, directory_client: GobblerClient) -> None:
    local = directory_client.project("p").asset("a").version("v").fetch_directory(concurrency=4)
    assert {name: (local / name).read_bytes() for name in FILES} == FILES
    assert all(lying.count(f"/fetch/p/a/v/{name}") == 1 for name in FILES)


def test_a_transient_failure_in_a_batch_is_retried_alone(
    lying: LyingServer, directory_client: GobblerClient
) -> None:
    lying.answer("/fetch/p/a/v/f2.txt", Answer(status=503, body=b"busy"), Answer(body=FILES["f2.txt"]))
    local = directory_client.project("p").asset("a").version("v").fetch_directory(concurrency=4)
    assert (local / "f2.txt").read_bytes() == FILES["f2.txt"]
    assert lying.count("/fetch/p/a/v/f2.txt") == 2
    assert lying.count("/fetch/p/a/v/f3.txt") == 1


def test_a_broken_transfer_in_a_batch_is_reported_after_its_retries(
    lying: LyingServer, directory_client: GobblerClient, tmp_path: Path
) -> None:
    body = FILES["f1.txt"]
    lying.answer("/fetch/p/a/v/f1.txt", Answer(body=body[:3], length=len(body)))
    with pytest.raises(ServiceUnavailableError):
        directory_client.project("p").asset("a").version("v").fetch_directory(concurrency=4)
    assert lying.count("/fetch/p/a/v/f1.txt") == 3  # the batch's attempt, then two retries
    cached = tmp_path / "cache" / "REGISTRY" / "p" / "a" / "v"
    assert not (cached / "f1.txt").exists()
    assert (cached / "f5.txt").read_bytes() == FILES["f5.txt"]  # the others arrived, verified


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (Answer(status=404, body=b"404 page not found\n"), NotFoundError),
        (Answer(body=b"wrong bytes"), IntegrityError),
    ],
)
def test_a_final_failure_in_a_batch_is_raised(
    lying: LyingServer, directory_client: GobblerClient, answer: Answer, error: type[Exception]
) -> None:
    lying.answer("/fetch/p/a/v/f4.txt", answer)
    with pytest.raises(error):
        directory_client.project("p").asset("a").version("v").fetch_directory(concurrency=4)
    assert lying.count("/fetch/p/a/v/f4.txt") == 1  # not retried
