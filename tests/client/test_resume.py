"""Interrupted downloads of large files resume from the bytes already received (issue 19, "Resume").

A verified download of at least ``RESUME_THRESHOLD`` bytes (alone or within a directory download) writes
to ``.gobbler-<name>.incomplete`` in its cache directory; when it is interrupted (kill -9, a dropped
connection) that file stays, and the next attempt re-hashes it and asks only for the rest with
``Range: bytes=N-``. A damaged prefix is caught by the manifest's MD5 of the whole file, and the file is then
downloaded once more from its first byte.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gobbler_sdk import GobblerClient, RemoteTransport
from gobbler_sdk._cache import RESUME_THRESHOLD, Cache, is_temporary
from gobbler_sdk.errors import ServiceUnavailableError
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import Answer, LyingServer, make_tree, unique

BIG = 64 << 20
# The file the CLI is killed downloading: 64 MiB keeps the suite fast; GOBBLER_RESUME_MIB=200 runs it at the
# size of issue 19's acceptance test.
KILLED = int(os.environ.get("GOBBLER_RESUME_MIB", "64")) << 20
MIDDLE = 16 << 20
PIECE = 1 << 20


def _content(size: int) -> bytes:
    """Bytes that differ from piece to piece, so a misplaced piece changes the MD5."""
    return b"".join(hashlib.sha512(str(i).encode()).digest() * (PIECE // 64) for i in range(size // PIECE))


def _publish(service: GobblerService, data: bytes, **others: bytes) -> tuple[str, str]:
    """A fresh version holding ``big.bin`` (and ``others``); returns its key and the file's registry path."""
    name = new_project(service)
    staged = make_tree(service.staging / unique("src"), {"big.bin": data, **others})
    service.request("upload", {"source": staged.name, "project": name, "asset": "a", "version": "v1"})
    return f"{name}/a/v1", f"{name}/a/v1/big.bin"


def covered(ranges: list[str], size: int) -> tuple[int, int]:
    """The bytes that ``Range`` headers of one file ask for together, checked to be one gapless run."""
    spans = []
    for asked in ranges:
        first, _, last = asked.removeprefix("bytes=").partition("-")
        spans.append((int(first), int(last) + 1 if last else size))
    spans.sort()
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end == start, f"the ranges {ranges} overlap or leave a gap"
    return spans[0][0], spans[-1][1]


def _partial(cache: Path, key: str) -> Path:
    return cache / "REGISTRY" / key / ".gobbler-big.bin.incomplete"


def test_partial_names_are_temporary() -> None:
    # The kept partial file is never served, scanned or pruned as a cached file; stale ones are swept.
    assert is_temporary(".gobbler-big.bin.incomplete")
    assert not is_temporary("big.bin.incomplete")
    assert BIG >= 4 * RESUME_THRESHOLD


@pytest.mark.parametrize(
    ("stop", "target"),
    [(signal.SIGKILL, "file"), (signal.SIGINT, "file"), (signal.SIGKILL, "version")],
    ids=["kill-9", "ctrl-c", "kill-9-version"],
)
def test_interrupted_half_way_then_resumed(
    service: GobblerService, tmp_path: Path, stop: int, target: str
) -> None:
    # The acceptance test: kill a real `gobbler-sdk download` half-way, run it again, and count on
    # the service's side (a forwarding proxy) the bytes the second run asks for. For a whole version the
    # small files travel in one pipelined batch and the large one on its own, so it resumes too.
    size = KILLED
    data = _content(size)
    small = {"small.txt": b"small\n", "sub/tiny.txt": b"tiny\n"} if target == "version" else {}
    key, path = _publish(service, data, **small)
    what = key if target == "version" else path
    cache, out = tmp_path / "cache", tmp_path / "out"
    command = [
        str(Path(sys.executable).parent / "gobbler-sdk"),
        "--cache",
        str(cache),
        "--transport",
        "remote",
    ]
    env = {**os.environ, "NO_COLOR": "1"}
    partial = _partial(cache, key)
    # One proxy for both runs: the cache records the service's URL, and another one would drop the version.
    with LyingServer(upstream=service.url) as proxy:
        # The first run gets the file 1 MiB every 40 ms, so it is still running when killed half-way.
        proxy.answer(
            f"/fetch/{path}",
            Answer(200, data, content_type="application/octet-stream", drip=0.04, drip_size=PIECE),
        )
        first = subprocess.Popen(
            [*command, "--url", proxy.url, "download", what, "--to", str(out)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and first.poll() is None:
                if partial.exists() and partial.stat().st_size >= size // 2:
                    break
                time.sleep(0.01)
            assert first.poll() is None, "the first run ended before it could be killed"
            first.send_signal(stop)
            first.wait(timeout=30)
        finally:
            first.kill()
            first.wait()
        kept = partial.stat().st_size
        assert size // 2 <= kept < size
        assert not (cache / "REGISTRY" / path).exists()
        proxy.answer(f"/fetch/{path}")  # no script left: forwarded to the service from now on
        proxy.reset()
        second = subprocess.run(
            [*command, "--url", proxy.url, "download", what, "--to", str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 0, second.stderr
        fetched = proxy.paths("/fetch/")
        if target == "file":
            assert fetched[0] == f"/fetch/{key}/..summary"
            assert set(fetched[1:]) == {f"/fetch/{path}"}
        else:  # the small files were in place before the kill: only the documents and the rest come again
            assert {p for p in fetched if "/.." not in p} == {f"/fetch/{path}"}
        # Only the rest is asked for: one range from the kept size, or the blocks of a ranged download
        # (the rest is large) which together cover exactly the bytes from there to the end.
        assert covered([asked for asked in proxy.forwarded_ranges if asked is not None], size) == (kept, size)
        # Everything forwarded (the summary too) is the rest of the file and one small document.
        assert size - kept <= proxy.forwarded_bytes <= 0.6 * size
    assert hashlib.md5((out / "big.bin").read_bytes()).hexdigest() == hashlib.md5(data).hexdigest()
    assert (cache / "REGISTRY" / path).read_bytes() == data
    assert not partial.exists()
    for name, content in small.items():
        assert (out / name).read_bytes() == content


@contextlib.contextmanager
def _client(url: str, cache: Path, reader: str, timeout: float = 30.0) -> Iterator[GobblerClient]:
    """A remote client reading through the fast path or, as behind a proxy, through httpx alone."""
    with GobblerClient(url, transport="remote", cache=cache, retries=2, timeout=timeout) as fast:
        if reader == "fast":
            yield fast
            return
        transport = RemoteTransport(fast._connections.http(), Cache(cache), retries=2)
        assert transport.fetcher is None
        with GobblerClient(url, transport=transport, cache=cache) as slow:
            yield slow


READERS = pytest.mark.parametrize("reader", ["fast", "httpx"])


@READERS
@pytest.mark.parametrize("damage", ["changed", "longer"])
def test_damaged_partial_file_starts_over(
    service: GobblerService, tmp_path: Path, damage: str, reader: str
) -> None:
    # Documented choice: a prefix that does not add up is caught by the manifest's MD5 of the whole file;
    # the partial file is then removed and the file downloaded once more from its first byte (one call).
    data = _content(MIDDLE)
    key, path = _publish(service, data)
    cache = tmp_path / "cache"
    partial = _partial(cache, key)
    partial.parent.mkdir(parents=True)
    if damage == "changed":
        prefix = bytearray(data[: MIDDLE // 2])
        prefix[12345] ^= 0xFF
        partial.write_bytes(bytes(prefix))
    else:
        partial.write_bytes(data + b"extra")  # past the manifest's size: not taken over at all
    with LyingServer(upstream=service.url) as counting, _client(counting.url, cache, reader) as client:
        local = client.fetch_file(path)
        assert local.read_bytes() == data
        asked = [r for r in counting.forwarded_ranges if r is not None]
        assert asked == ([f"bytes={MIDDLE // 2}-"] if damage == "changed" else [])
    assert not partial.exists()


@READERS
def test_symlinked_partial_file_is_not_followed(service: GobblerService, tmp_path: Path, reader: str) -> None:
    data = _content(MIDDLE)
    key, path = _publish(service, data)
    cache = tmp_path / "cache"
    partial = _partial(cache, key)
    partial.parent.mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_bytes(data[:PIECE])
    partial.symlink_to(victim)
    with LyingServer(upstream=service.url) as counting, _client(counting.url, cache, reader) as client:
        assert client.fetch_file(path).read_bytes() == data
        assert [r for r in counting.forwarded_ranges if r is not None] == []
    assert victim.read_bytes() == data[:PIECE]
    assert partial.is_symlink()


def _rest(data: bytes, offset: int) -> Answer:
    """The answer to ``Range: bytes=<offset>-``: the rest of ``data`` (scripted, so a restart shows)."""
    return Answer(
        206,
        data[offset:],
        content_type="application/octet-stream",
        headers={"Content-Range": f"bytes {offset}-{len(data) - 1}/{len(data)}"},
    )


@READERS
@pytest.mark.parametrize("how", ["file", "directory"])
def test_dropped_connection_resumes_within_the_retries(
    service: GobblerService, tmp_path: Path, reader: str, how: str
) -> None:
    data = _content(MIDDLE)
    key, path = _publish(service, data, **{"a.txt": b"a", "z/z.txt": b"z"})
    cache = tmp_path / "cache"
    half = MIDDLE // 2
    with LyingServer(upstream=service.url) as lying, _client(lying.url, cache, reader) as client:
        # The first answer announces the whole file and hangs up half-way; the retry must ask for the rest.
        lying.answer(
            f"/fetch/{path}",
            Answer(200, data[:half], content_type="application/octet-stream", length=MIDDLE),
            _rest(data, half),
        )
        if how == "file":
            assert client.fetch_file(path).read_bytes() == data
        else:  # the small files in one batch, the large one on its own request, which can resume
            assert (client.fetch_directory(key) / "big.bin").read_bytes() == data
        assert lying.count(f"/fetch/{path}") == 2
    assert not _partial(cache, key).exists()


@READERS
def test_broken_off_partial_is_kept_but_never_served(
    service: GobblerService, tmp_path: Path, reader: str
) -> None:
    data = _content(MIDDLE)
    key, path = _publish(service, data)
    cache = tmp_path / "cache"
    with LyingServer(upstream=service.url) as lying:
        lying.answer(
            f"/fetch/{path}",
            Answer(200, data[: MIDDLE // 4], content_type="application/octet-stream", length=MIDDLE),
        )
        # Every attempt breaks off after a quarter (the retries ask for the rest and get the start again).
        with (
            _client(lying.url, cache, reader) as client,
            pytest.raises(ServiceUnavailableError, match="cannot reach"),
        ):
            client.fetch_file(path)
        assert lying.count(f"/fetch/{path}") == 3
    assert _partial(cache, key).stat().st_size == MIDDLE // 4
    assert not (cache / "REGISTRY" / path).exists()


@READERS
def test_stalled_transfer_resumes_from_its_offset(
    service: GobblerService, tmp_path: Path, reader: str
) -> None:
    # The first answer sends half the file, then nothing for longer than the client's timeout; the retry
    # asks for the rest (the scripted 206 holds only the second half, so only a resumed file adds up).
    data = _content(MIDDLE)
    key, path = _publish(service, data)
    cache = tmp_path / "cache"
    half = MIDDLE // 2
    head = LyingServer._raw(Answer(200, data, content_type="application/octet-stream"))[: -len(data)]
    stalled = Answer(200, data, content_type="application/octet-stream", drip=2.0, drip_size=len(head) + half)
    rest = _rest(data, half)
    with LyingServer(upstream=service.url) as lying:
        lying.answer(f"/fetch/{path}", stalled, rest)
        with _client(lying.url, cache, reader, timeout=0.5) as client:
            assert client.fetch_file(path).read_bytes() == data
        assert lying.count(f"/fetch/{path}") == 2
    assert not _partial(cache, key).exists()
