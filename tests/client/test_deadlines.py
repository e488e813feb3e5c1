"""Timeouts are deadlines: a dripping or stalling server is cut off on both HTTP stacks, a slow honest
transfer is not, and a submission waits at most ``submit_timeout`` and then says it may have been applied.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gobbler_sdk import (
    GobblerClient,
    OutcomeUnknownError,
    RemoteTransport,
    ServiceUnavailableError,
)
from gobbler_sdk._cache import Cache
from gobbler_sdk._limits import install_deadlines

from .support import Answer, LyingServer, request_files

LISTING = ["a/", "b/", "c/"]


@pytest.fixture(params=["fast", "httpx"])
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def reader(
    lying: LyingServer,
    make_client: Callable[..., GobblerClient],
    tmp_path: Path,
    stack: str,
    **options: object,
) -> GobblerClient:
    client = make_client(lying.url, transport="remote", registry="/nowhere", retries=0, **options)
    if stack == "fast":
        return client
    remote = client._connections.remote()
    transport = RemoteTransport(
        client._connections.http(), Cache(tmp_path / "cache"), retries=0, limits=remote.limits
    )
    assert transport.fetcher is None
    return make_client(lying.url, transport=transport, registry="/nowhere", retries=0)


def serve_manifest(lying: LyingServer, files: dict[str, bytes]) -> None:
    """The manifest of ``p/a/v`` (read even without verification: its sizes bound the downloads)."""
    manifest = {
        name: {"size": len(body), "md5sum": hashlib.md5(body).hexdigest()} for name, body in files.items()
    }
    lying.json("/fetch/p/a/v/..manifest", manifest)


def elapsed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


@pytest.mark.parametrize("what", ["headers", "body"])
def test_a_dripping_server_is_cut_off(
    lying: LyingServer, make_client: Callable[..., GobblerClient], tmp_path: Path, stack: str, what: str
) -> None:
    # 1 byte every 0.1 s: each wait is far below the time-out, the whole answer takes ~10 s or more.
    answer = Answer(body=LISTING, drip=0.1)
    if what == "body":
        answer = Answer(body=b'["a/"' + b" " * 100 + b"]", drip=0.1, drip_size=1)
    lying.answer("/list?path=p", answer)
    client = reader(lying, make_client, tmp_path, stack, timeout=1.0, min_read_rate=1000.0)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailableError):
        client.project("p").assets()
    assert time.monotonic() - started < 3.0


@pytest.mark.parametrize("read", ["download", "range"])
def test_a_stalled_download_is_cut_off(
    lying: LyingServer, make_client: Callable[..., GobblerClient], tmp_path: Path, stack: str, read: str
) -> None:
    # For the range, a server that ignores the Range header and drips the whole file.
    serve_manifest(lying, {"f.txt": b"x" * 300})
    lying.answer(
        "/fetch/p/a/v/f.txt", Answer(body=b"x" * 300, content_type="text/plain", drip=0.05, drip_size=3)
    )
    client = reader(lying, make_client, tmp_path, stack, timeout=0.5, min_read_rate=1000.0)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailableError):
        if read == "download":
            client.fetch_file("p/a/v/f.txt", verify=False)
        else:
            client.read_range("p/a/v/f.txt", 0, 250)
    assert time.monotonic() - started < 2.0
    assert not list((tmp_path / "cache").rglob("f.txt"))


def test_a_slow_but_steady_transfer_may_take_longer_than_the_timeout(
    lying: LyingServer, make_client: Callable[..., GobblerClient], tmp_path: Path, stack: str
) -> None:
    # ~4,000 bytes/s for 1.2 s: beyond timeout=0.5, within 0.5 + 4,800 / 1,000 s.
    body = bytes(range(256)) * 18 + b"tail"
    serve_manifest(lying, {"f.bin": body})
    lying.answer(
        "/fetch/p/a/v/f.bin", Answer(body=body, content_type="text/plain", drip=0.025, drip_size=100)
    )
    client = reader(lying, make_client, tmp_path, stack, timeout=0.5, min_read_rate=1000.0)
    fetched: list[Path] = []
    took = elapsed(lambda: fetched.append(client.fetch_file("p/a/v/f.bin", verify=False)))
    assert took > 0.5
    assert fetched[0].read_bytes() == body


def test_the_httpx_client_keeps_deadlines(make_client: Callable[..., GobblerClient]) -> None:
    # Fails (and the httpx tests above stall) should an httpx upgrade hide the network backend.
    assert install_deadlines(make_client("http://127.0.0.1:9")._connections.http())


@pytest.fixture
def submitter(lying: LyingServer, make_client: Callable[..., GobblerClient], tmp_path: Path) -> GobblerClient:
    staging = tmp_path / "staging"
    staging.mkdir()
    lying.staging = staging
    return make_client(lying.url, staging=staging, registry="/nowhere", submit_timeout=0.5)


@pytest.mark.parametrize(
    "answer", [Answer(delay=5.0), Answer(body={"status": "SUCCESS"}, drip=0.1)], ids=["silent", "dripping"]
)
def test_a_submission_waits_at_most_submit_timeout(
    lying: LyingServer, submitter: GobblerClient, tmp_path: Path, answer: Answer
) -> None:
    lying.answer_prefix("/new/", answer, method="POST")
    started = time.monotonic()
    with pytest.raises(OutcomeUnknownError, match="MAY HAVE BEEN APPLIED") as caught:
        submitter.create_project("p")
    assert time.monotonic() - started < 2.0
    assert isinstance(caught.value, ServiceUnavailableError)
    # Sent once, never resent, and the request file is gone.
    assert len(lying.paths("/new/", method="POST")) == 1
    assert request_files(tmp_path / "staging") == []


def test_a_long_submission_within_submit_timeout_succeeds(
    lying: LyingServer, make_client: Callable[..., GobblerClient], tmp_path: Path
) -> None:
    # The per-read timeout does not apply to submissions: the service answers only when done.
    staging = tmp_path / "staging"
    staging.mkdir()
    client = make_client(lying.url, staging=staging, registry="/nowhere", timeout=0.3, submit_timeout=5.0)
    lying.answer_prefix("/new/", Answer(body={"status": "SUCCESS"}, delay=1.0), method="POST")
    client.create_project("p")
    assert len(lying.paths("/new/", method="POST")) == 1
