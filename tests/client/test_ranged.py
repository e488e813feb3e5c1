"""Large files as parallel ranged GETs (issue 24, "Large files over a long round trip").

A verified download of at least ``RANGED_THRESHOLD`` bytes is fetched as blocks on several connections,
written in place and hashed in order; these tests shrink the thresholds (1 MiB blocks, 4 connections, and no
minimum round trip, so the parallel path runs on loopback) and check the exact bytes, the fall-back to one
stream, the lies a server may tell on the ranged path, and interruptions: whatever happens, the cache holds
either the verified file or a partial file that is a true prefix of it, never a wrong byte.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from gobbler_sdk import GobblerClient, RemoteTransport
from gobbler_sdk import _ranged as ranged
from gobbler_sdk._cache import RESUME_THRESHOLD, Cache
from gobbler_sdk._fetcher import Fetcher
from gobbler_sdk._ranges import RangeError
from gobbler_sdk.errors import IntegrityError, ServiceUnavailableError
from gobbler_sdk.models import ManifestEntry
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import LyingServer, make_tree, unique
from .test_resume import covered

BLOCK = 1 << 20
# Not a multiple of the block: the last block is shorter.
SIZE = RESUME_THRESHOLD + 4 * BLOCK + 12345
PATH = "p/a/v1/big.bin"
_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


def _content(size: int) -> bytes:
    """Bytes that differ from block to block, so a misplaced block changes the MD5."""
    pieces = [hashlib.sha512(str(i).encode()).digest() * (BLOCK // 64) for i in range(size // BLOCK + 1)]
    return b"".join(pieces)[:size]


DATA = _content(SIZE)
ENTRY = ManifestEntry(size=SIZE, md5sum=hashlib.md5(DATA).hexdigest())


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranged downloads from RESUME_THRESHOLD bytes on, 1 MiB blocks, 4 connections, even on loopback."""
    monkeypatch.setattr(ranged, "RANGED_THRESHOLD", RESUME_THRESHOLD)
    monkeypatch.setattr(ranged, "RANGED_BLOCK", BLOCK)
    monkeypatch.setattr(ranged, "RANGED_CONNECTIONS", 4)
    monkeypatch.setattr(ranged, "RANGED_MIN_ROUND_TRIP", 0.0)


# ---------------------------------------------------------------------- a scripted server of one file

Behaviour = Callable[[int, int | None, int], tuple[int, dict[str, str], bytes] | None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _FileServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.owner.serve(self)


class _FileServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: FileServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hang up on lies; that is the point


class FileServer:
    """Serves ``DATA`` at ``/fetch/PATH`` on 127.0.0.1, honouring ``Range`` unless told otherwise.

    ``behaviour(start, end, count)`` sees each ranged request (``end`` exclusive, ``None`` when open, and how
    many ranged requests came before) and returns ``(status, headers, body)`` to send instead of the honest
    answer, or ``None``. ``ranges`` is false for a server that ignores ``Range`` and always sends the file.
    """

    def __init__(self, *, ranges: bool = True, behaviour: Behaviour | None = None) -> None:
        self.ranges = ranges
        self.behaviour = behaviour
        self.asked: list[str | None] = []
        self._lock = threading.Lock()
        self._server = _FileServer(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def serve(self, handler: _Handler) -> None:
        if handler.path != f"/fetch/{PATH}":
            handler.send_error(404)
            return
        asked = handler.headers.get("Range")
        with self._lock:
            self.asked.append(asked)
            count = sum(1 for a in self.asked if a is not None) - 1
        match = _RANGE.fullmatch(asked or "")
        status, headers, body = 200, {}, DATA
        if self.ranges and match is not None:
            start = int(match.group(1))
            end = int(match.group(2)) + 1 if match.group(2) else None
            body = DATA[start:end]
            stop = start + len(body)
            status, headers = 206, {"Content-Range": f"bytes {start}-{stop - 1}/{SIZE}"}
            if self.behaviour is not None:
                status, headers, body = self.behaviour(start, end, count) or (status, headers, body)
        cut = headers.pop("X-Cut", None)
        handler.send_response(status)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", headers.pop("Content-Length", str(len(body))))
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        try:
            if cut is not None:
                # Half the announced body, then the connection goes away.
                handler.wfile.write(body[: int(cut)])
                handler.wfile.flush()
                handler.close_connection = True
                return
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[..., FileServer]]:
    made: list[FileServer] = []

    def build(**options: Any) -> FileServer:
        made.append(FileServer(**options))
        return made[-1]

    yield build
    for server in made:
        server.close()


class _Recording(Fetcher):
    """A fast path that notes the ``Range`` of each request it sends, with what ``mark()`` says then."""

    def __init__(self, url: str, log: list[tuple[str | None, bool]], mark: Callable[[], bool]) -> None:
        super().__init__(url, timeout=10.0)
        self.log, self.mark = log, mark

    def _request(self, url_path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        self.log.append(((headers or {}).get("Range"), self.mark()))
        return super()._request(url_path, headers)

    def send(
        self, connection: http.client.HTTPConnection, url_path: str, headers: dict[str, str]
    ) -> http.client.HTTPResponse:
        self.log.append((headers.get("Range"), self.mark()))
        return super().send(connection, url_path, headers)


def _fetch(
    url: str,
    cache: Path,
    *,
    retries: int = 2,
    on_bytes: Callable[[int], None] | None = None,
    fetcher: Fetcher | None = None,
) -> Path:
    """Fetch ``PATH`` through the fast path into ``cache``, checked against ``ENTRY``."""
    with httpx.Client(base_url=url) as http:
        fetcher = fetcher or Fetcher(url, timeout=10.0)
        transport = RemoteTransport(http, Cache(cache), retries=retries, fetcher=fetcher)
        try:
            return transport.fetch(PATH, entry=ENTRY, on_bytes=on_bytes)
        finally:
            transport.close()


def _left(cache: Path) -> list[str]:
    """Every file in the cache's directory of ``PATH``."""
    directory = cache / "REGISTRY" / "p" / "a" / "v1"
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def _partial(cache: Path) -> Path:
    return cache / "REGISTRY" / "p" / "a" / "v1" / ".gobbler-big.bin.incomplete"


def _no_helpers_left() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith(("gobbler-range", "gobbler-md5"))]


# ---------------------------------------------------------------------- the tests


def test_blocks_from_the_service(service: GobblerService, tmp_path: Path) -> None:
    # Against the running service (embedded or GOBBLER_BINARY): the blocks cover the file exactly once, the
    # bytes and their MD5 are the manifest's, and progress counts every byte once.
    name = new_project(service)
    staged = make_tree(service.staging / unique("src"), {"big.bin": DATA})
    service.request("upload", {"source": staged.name, "project": name, "asset": "a", "version": "v1"})
    path = f"{name}/a/v1/big.bin"
    with LyingServer(upstream=service.url) as counting:
        with GobblerClient(counting.url, transport="remote", cache=tmp_path / "cache") as client:
            local = client.fetch_file(path)
        asked = [r for r in counting.forwarded_ranges if r is not None]
        assert len(asked) == -(-SIZE // BLOCK)
        assert covered(asked, SIZE) == (0, SIZE)
    assert local.read_bytes() == DATA
    progress: list[int] = []
    with httpx.Client(base_url=service.url) as http:
        transport = RemoteTransport(
            http, Cache(tmp_path / "direct"), fetcher=Fetcher(service.url, timeout=10.0)
        )
        try:
            direct = transport.fetch(path, entry=ENTRY, on_bytes=progress.append)
        finally:
            transport.close()
    assert hashlib.md5(direct.read_bytes()).hexdigest() == ENTRY.md5sum
    assert sum(progress) == SIZE and min(progress) > 0
    assert _no_helpers_left()


def test_an_unverified_download_stays_one_stream(service: GobblerService, tmp_path: Path) -> None:
    # verify=False saves the hashing; the ranged path hashes the whole file, so it is for verified reads.
    name = new_project(service)
    staged = make_tree(service.staging / unique("src"), {"big.bin": DATA})
    service.request("upload", {"source": staged.name, "project": name, "asset": "a", "version": "v1"})
    with LyingServer(upstream=service.url) as counting:
        with GobblerClient(counting.url, transport="remote", cache=tmp_path / "cache") as client:
            local = client.fetch_file(f"{name}/a/v1/big.bin", verify=False)
        assert [r for r in counting.forwarded_ranges if r is not None] == []
        assert counting.paths("/fetch/").count(f"/fetch/{name}/a/v1/big.bin") == 1
    assert local.read_bytes() == DATA


def test_a_server_without_ranges_sends_one_stream(serve: Callable[..., FileServer], tmp_path: Path) -> None:
    server = serve(ranges=False)
    assert _fetch(server.url, tmp_path / "cache").read_bytes() == DATA
    assert len(server.asked) == 1  # the first block was asked for, the whole file came, nothing more
    assert _left(tmp_path / "cache") == ["big.bin"]


def _lie_about_size(start: int, end: int | None, count: int) -> tuple[int, dict[str, str], bytes] | None:
    if count < 2:
        return None
    body = DATA[start:end]
    return 206, {"Content-Range": f"bytes {start}-{start + len(body) - 1}/{SIZE + 1}"}, body


def _other_bytes(start: int, end: int | None, count: int) -> tuple[int, dict[str, str], bytes] | None:
    if count < 2:
        return None
    body = DATA[start : (end or SIZE) + 10]  # ten bytes more than asked, announced as such
    return 206, {"Content-Range": f"bytes {start}-{start + len(body) - 1}/{SIZE}"}, body


def _longer_body(start: int, end: int | None, count: int) -> tuple[int, dict[str, str], bytes] | None:
    if count < 2:
        return None
    body = DATA[start:end]
    # The asked range in the headers, then bytes past it that the client must never write.
    headers = {
        "Content-Range": f"bytes {start}-{start + len(body) - 1}/{SIZE}",
        "Content-Length": str(len(body)),
    }
    return 206, headers, body + b"x" * BLOCK


def _damaged(start: int, end: int | None, count: int) -> tuple[int, dict[str, str], bytes] | None:
    if start != 3 * BLOCK:
        return None
    body = bytearray(DATA[start:end])
    body[100] ^= 0xFF
    return 206, {"Content-Range": f"bytes {start}-{start + len(body) - 1}/{SIZE}"}, bytes(body)


@pytest.mark.parametrize(
    ("behaviour", "error", "message"),
    [
        (_lie_about_size, IntegrityError, "the service reports"),
        (_other_bytes, RangeError, "asked for"),
        (_damaged, IntegrityError, "expected MD5"),
    ],
    ids=["another-size", "other-bytes", "damaged-block"],
)
def test_lies_on_the_ranged_path_leave_nothing(
    serve: Callable[..., FileServer],
    tmp_path: Path,
    behaviour: Behaviour,
    error: type[Exception],
    message: str,
) -> None:
    server = serve(behaviour=behaviour)
    with pytest.raises(error, match=message):
        _fetch(server.url, tmp_path / "cache")
    assert _left(tmp_path / "cache") == []
    assert _no_helpers_left()


def test_bytes_past_a_block_are_never_written(serve: Callable[..., FileServer], tmp_path: Path) -> None:
    # Every block answer but the first two carries a megabyte of junk after the announced bytes: only the
    # announced bytes are written. The junk then garbles the next answer on that kept-alive connection, so
    # the download may end in a failure after its retries; either way the cache holds the verified file or a
    # true prefix of it, never more than the manifest's size.
    cache = tmp_path / "cache"
    try:
        assert _fetch(serve(behaviour=_longer_body).url, cache).read_bytes() == DATA
    except ServiceUnavailableError:
        kept = _partial(cache).read_bytes()
        assert kept == DATA[: len(kept)]
        assert _left(cache) == [".gobbler-big.bin.incomplete"]
    else:
        assert _left(cache) == ["big.bin"]
    assert _no_helpers_left()


def test_a_block_cut_off_is_resumed_within_the_retries(
    serve: Callable[..., FileServer], tmp_path: Path
) -> None:
    progress: list[int] = []

    def cut_once(start: int, end: int | None, count: int) -> tuple[int, dict[str, str], bytes] | None:
        if start != 2 * BLOCK or count > 4:
            return None
        body = DATA[start:end]
        return 206, {"Content-Range": f"bytes {start}-{start + len(body) - 1}/{SIZE}", "X-Cut": "1000"}, body

    server = serve(behaviour=cut_once)
    # Each ranged request sent, and whether the first attempt had been given up (its bytes taken back) then.
    sent: list[tuple[str | None, bool]] = []
    recording = _Recording(server.url, sent, lambda: any(p < 0 for p in progress))
    assert (
        _fetch(server.url, tmp_path / "cache", on_bytes=progress.append, fetcher=recording).read_bytes()
        == DATA
    )
    # What the broken attempt counted was taken back; the next one took over its gapless prefix.
    withdrawn = next(i for i, p in enumerate(progress) if p < 0)
    assert sum(progress) == SIZE
    # The second attempt asked only for the bytes past that prefix (reported first when not empty), once.
    start, end = covered([asked for asked, later in sent if later and asked is not None], SIZE)
    assert end == SIZE and start in (0, progress[withdrawn + 1])
    assert _left(tmp_path / "cache") == ["big.bin"]


CUT_AT = 5 * BLOCK + 500


def _cut_at(start: int, end: int | None, count: int) -> tuple[int, dict[str, str], bytes] | None:
    """Every answer holding byte ``CUT_AT`` breaks off just before it."""
    stop = SIZE if end is None else end
    if not start <= CUT_AT < stop:
        return None
    body = DATA[start:stop]
    headers = {"Content-Range": f"bytes {start}-{stop - 1}/{SIZE}", "X-Cut": str(CUT_AT - start)}
    return 206, headers, body


def test_a_download_broken_every_time_keeps_a_true_prefix(
    serve: Callable[..., FileServer], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(ServiceUnavailableError):
        _fetch(serve(behaviour=_cut_at).url, cache, retries=1)
    kept = _partial(cache).read_bytes()
    # Blocks past the broken one may have arrived, but only the gapless prefix is kept, and it is true.
    assert len(kept) <= CUT_AT
    assert kept == DATA[: len(kept)]
    assert _left(cache) == [".gobbler-big.bin.incomplete"]
    honest = serve()
    assert _fetch(honest.url, cache).read_bytes() == DATA
    assert covered([r for r in honest.asked if r is not None], SIZE) == (len(kept), SIZE)
    assert _left(cache) == ["big.bin"]


def test_interrupted_mid_way_keeps_a_true_prefix_and_resumes(
    serve: Callable[..., FileServer], tmp_path: Path
) -> None:
    # Ctrl-C (here raised from the progress callback, on whichever thread counts past half the file) stops
    # every connection and the hashing thread; the partial file is cut to its gapless prefix.
    server = serve()
    cache = tmp_path / "cache"
    counted = [0]

    def interrupt(count: int) -> None:
        counted[0] += count
        if counted[0] > SIZE // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fetch(server.url, cache, on_bytes=interrupt)
    assert _no_helpers_left()
    kept = _partial(cache).read_bytes()
    assert kept == DATA[: len(kept)]
    assert _left(cache) == [".gobbler-big.bin.incomplete"]
    server.asked.clear()
    assert _fetch(server.url, cache).read_bytes() == DATA
    assert covered([r for r in server.asked if r is not None], SIZE) == (len(kept), SIZE)
    assert _left(cache) == ["big.bin"]


def test_a_short_round_trip_uses_one_connection(
    serve: Callable[..., FileServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On loopback the first block's answer comes back at once: the rest is one more ranged GET.
    monkeypatch.setattr(ranged, "RANGED_MIN_ROUND_TRIP", 10.0)
    server = serve()
    assert _fetch(server.url, tmp_path / "cache").read_bytes() == DATA
    assert server.asked == [f"bytes=0-{BLOCK - 1}", f"bytes={BLOCK}-"]


def _reports_holes(directory: Path) -> bool:
    probe = directory / "probe"
    with open(probe, "wb") as handle:
        handle.write(b"x")
        handle.seek(1 << 20)
        handle.write(b"x")
    with open(probe, "rb") as handle:
        try:
            hole = os.lseek(handle.fileno(), 0, os.SEEK_HOLE)
        except OSError:
            return False
    probe.unlink()
    return hole < (1 << 20)


def test_a_killed_ranged_download_resumes_before_its_first_gap(
    serve: Callable[..., FileServer], tmp_path: Path
) -> None:
    # What kill -9 leaves of a ranged download: a gapless prefix, a hole, then a later block. The next
    # attempt keeps the prefix up to the filesystem block before the hole and asks only for the rest.
    cache = tmp_path / "cache"
    partial = _partial(cache)
    partial.parent.mkdir(parents=True)
    if not _reports_holes(partial.parent):
        pytest.skip("this filesystem does not report holes (the MD5 then makes the file start over)")
    prefix = 3 * BLOCK + 100
    with open(partial, "wb") as handle:
        handle.write(DATA[:prefix])
        handle.seek(6 * BLOCK)
        handle.write(DATA[6 * BLOCK : 7 * BLOCK])
    server = serve()
    assert _fetch(server.url, cache).read_bytes() == DATA
    start, end = covered([r for r in server.asked if r is not None], SIZE)
    assert prefix - 2 * max(os.stat(cache).st_blksize, 4096) <= start <= prefix and end == SIZE
    assert _left(cache) == ["big.bin"]


class _Counting(Fetcher):
    """A fast path that counts the connections opened for helpers."""

    opened = 0

    def new_connection(self) -> http.client.HTTPConnection:
        self.opened += 1
        return super().new_connection()


@pytest.mark.parametrize("answered_before", [False, True], ids=["first-request", "after-a-small-answer"])
def test_helpers_connect_early_unless_a_short_round_trip_is_known(
    serve: Callable[..., FileServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answered_before: bool
) -> None:
    # Every round trip counts as short here. Without an earlier answer the helpers connect while the first
    # block is asked for (and are closed again); after one (the manifest, usually) they do not even connect.
    monkeypatch.setattr(ranged, "RANGED_MIN_ROUND_TRIP", 10.0)
    server = serve()
    fetcher = _Counting(server.url, timeout=10.0)
    if answered_before:
        assert fetcher.get("/fetch/p/a/v1/..summary").status == 404
        assert fetcher.last_round_trip() is not None
    assert _fetch(server.url, tmp_path / "cache", fetcher=fetcher).read_bytes() == DATA
    assert fetcher.opened == (0 if answered_before else 3)
    assert [r for r in server.asked if r is not None] == [f"bytes=0-{BLOCK - 1}", f"bytes={BLOCK}-"]
