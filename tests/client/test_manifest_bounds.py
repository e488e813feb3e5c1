"""Bounds from the manifest: a lying server's extra bytes are refused early, on both HTTP paths.

A manifest entry says how large a file is. A download stops at the first byte past that size (or before
reading anything, when ``Content-Length`` already says more), so a server that streams 64 MiB for a
10-byte entry never fills the disk; a ranged read is refused from its headers when they state another
size than the manifest, and without a manifest entry it is capped at ``max_response_size``. Every test
runs against the fast ``http.client`` path and the httpx one (a transport built without a fetcher, as
when a proxy is configured), and measures how far the client let the server get: the bytes the server
managed to hand to its socket before the client hung up (loopback socket buffers hold a few MiB).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient, IntegrityError, RemoteTransport, ResponseTooLargeError
from gobbler_sdk._cache import Cache
from gobbler_sdk._limits import ReadLimits

from .support import Answer, LyingServer, snapshot
from .test_hostile import BODY, serve_version

MIB = 1 << 20
# What the lying server streams for a 10-byte entry.
FLOOD = 64 * MIB
# Bytes the server can hand to the kernel after the client stopped reading: the loopback socket buffers
# (a few MiB) plus the chunk in hand. Without the bounds the whole flood goes through.
SLACK = 24 * MIB
PIECE = b"x" * (64 * 1024)
CLAIMED = 300 * MIB
PATHS = ["fast", "httpx"]


def reader(
    lying: LyingServer,
    make_client: Callable[..., GobblerClient],
    cache: Path,
    kind: str,
    cap: int | None = None,
) -> GobblerClient:
    """A client of the lying server reading through the fast path or through httpx alone."""
    options = {} if cap is None else {"max_response_size": cap}
    client = make_client(
        lying.url, transport="remote", cache=cache, registry="/nowhere", retries=1, **options
    )
    if kind == "fast":
        assert client.transport.fetcher is not None  # type: ignore[attr-defined]
        return client
    limits = ReadLimits(30.0, **options)
    transport = RemoteTransport(client._connections.http(), Cache(cache), retries=1, limits=limits)
    assert transport.fetcher is None
    return make_client(lying.url, transport=transport, cache=cache)


def leftovers(cache: Path) -> list[str]:
    """Files in the cache other than the version's documents and the record of its origin."""
    return sorted(
        p
        for p in snapshot(cache)
        if not (cache / p).is_dir()
        and not p.startswith("ORIGINS/")
        and not p.rpartition("/")[2].startswith("..")
    )


def flood(length: int | None) -> Answer:
    """An answer streaming ``FLOOD`` bytes, announcing ``length`` (``None``: no ``Content-Length``)."""
    return Answer(body=PIECE, content_type="text/plain", endless=True, endless_limit=FLOOD, length=length)


@pytest.mark.parametrize("kind", PATHS)
@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "no-length"])
@pytest.mark.parametrize("verify", [True, False], ids=["verified", "unverified"])
def test_download_stops_past_the_entry(
    lying: LyingServer,
    make_client: Callable[..., GobblerClient],
    tmp_path: Path,
    kind: str,
    announced: bool,
    verify: bool,
) -> None:
    # Without verification nothing is hashed, but the manifest's size still bounds what is written.
    serve_version(lying, {"f.txt": BODY})
    lying.answer("/fetch/p/a/v/f.txt", flood(FLOOD if announced else None))
    client = reader(lying, make_client, tmp_path / "cache", kind)
    with pytest.raises(IntegrityError, match="more than the 10 the manifest records"):
        client.project("p").asset("a").version("v").fetch("f.txt", verify=verify)
    # Not retried (the answer is wrong, not transient), stopped long before the end, nothing kept.
    assert lying.count("/fetch/p/a/v/f.txt") == 1
    assert lying.endless_sent < SLACK
    assert leftovers(tmp_path / "cache") == []


@pytest.mark.parametrize("kind", PATHS)
@pytest.mark.parametrize("verify", [True, False], ids=["verified", "unverified"])
def test_directory_download_stops_past_the_entry(
    lying: LyingServer, make_client: Callable[..., GobblerClient], tmp_path: Path, kind: str, verify: bool
) -> None:
    # Several files: the fast path keeps them in flight together (Fetcher.exchange_many).
    serve_version(lying, {"a.txt": BODY, "f.txt": BODY, "z.txt": BODY})
    lying.answer("/fetch/p/a/v/f.txt", flood(None))
    client = reader(lying, make_client, tmp_path / "cache", kind)
    with pytest.raises(IntegrityError, match="more than the 10 the manifest records"):
        client.project("p").asset("a").version("v").fetch_directory(verify=verify)
    assert lying.count("/fetch/p/a/v/f.txt") == 1
    assert lying.endless_sent < SLACK
    assert not [p for p in leftovers(tmp_path / "cache") if "f.txt" in p or ".gobbler-" in p]


def claimed_range(first: int, last: int) -> Answer:
    """A 206 claiming bytes ``first``-``last`` of a ``CLAIMED``-byte file, streaming far more bytes."""
    return Answer(
        status=206,
        body=PIECE,
        content_type="application/octet-stream",
        endless=True,
        endless_limit=FLOOD,
        length=last - first + 1,
        headers={"Content-Range": f"bytes {first}-{last}/{CLAIMED}"},
    )


@pytest.mark.parametrize("kind", PATHS)
def test_ranged_read_bounded_by_the_entry(
    lying: LyingServer, make_client: Callable[..., GobblerClient], tmp_path: Path, kind: str
) -> None:
    serve_version(lying, {"f.txt": BODY})
    lying.answer("/fetch/p/a/v/f.txt", claimed_range(0, CLAIMED - 1))
    client = reader(lying, make_client, tmp_path / "cache", kind)
    version = client.project("p").asset("a").version("v")
    # The manifest is read first; the answer's headers state 300 MiB, so none of its body is read.
    with pytest.raises(IntegrityError, match=f"records 10 bytes, the file has {CLAIMED}"):
        version.read_bytes("f.txt")
    assert lying.count("/fetch/p/a/v/f.txt") == 1
    assert lying.endless_sent < SLACK
    # A caller holding the entry (the filesystem, the browser) is bounded by it even without verifying.
    entry = version.manifest()["f.txt"]
    lying.reset()
    with pytest.raises(IntegrityError, match="records 10 bytes"):
        client.read_range("p/a/v/f.txt", entry=entry, verify=False)
    assert lying.count("/fetch/p/a/v/f.txt") == 1
    assert lying.endless_sent < 2 * SLACK
    assert leftovers(tmp_path / "cache") == []


@pytest.mark.parametrize("kind", PATHS)
def test_ranged_read_capped_without_an_entry(
    lying: LyingServer, make_client: Callable[..., GobblerClient], tmp_path: Path, kind: str
) -> None:
    big = os.urandom(3 * MIB)
    serve_version(lying, {"f.txt": BODY, "big.bin": big})
    lying.answer("/fetch/p/a/v/f.txt", claimed_range(0, CLAIMED - 1))
    client = reader(lying, make_client, tmp_path / "cache", kind, cap=MIB)
    version = client.project("p").asset("a").version("v")
    # Without verification there is no entry: max_response_size (1 MiB) bounds the read.
    with pytest.raises(ResponseTooLargeError, match=f"would put {CLAIMED} bytes in memory"):
        version.read_bytes("f.txt", verify=False)
    assert lying.count("/fetch/p/a/v/f.txt") == 1
    assert lying.endless_sent < SLACK
    # With an entry, the entry is the bound: an honest 3 MiB file reads whole despite the 1 MiB cap.
    lying.answer(
        "/fetch/p/a/v/big.bin",
        Answer(status=206, body=big, headers={"Content-Range": f"bytes 0-{len(big) - 1}/{len(big)}"}),
    )
    assert version.read_bytes("big.bin") == big


def test_partial_file_refuses_past_its_limit(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    partial = cache.begin("p/a/v/f.txt", limit=10)
    partial.write(b"0123456")
    with pytest.raises(IntegrityError, match="at least 11 bytes, more than the 10"):
        partial.write(b"7890")
    partial.discard()  # a second discard (as callers do on the way out) is harmless
    assert [p for p in snapshot(tmp_path / "cache") if not (tmp_path / "cache" / p).is_dir()] == []
    with pytest.raises(IntegrityError, match="announces 11 bytes"):
        cache.begin("p/a/v/f.txt", limit=10).check_announced(11)
    assert [p for p in snapshot(tmp_path / "cache") if not (tmp_path / "cache" / p).is_dir()] == []
    exact = cache.begin("p/a/v/f.txt", limit=10)
    exact.check_announced(10)
    exact.write(BODY)
    assert exact.commit(None, "fetch").read_bytes() == BODY
