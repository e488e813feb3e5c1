"""Fixtures for the browser tests: a registry to show, the app served by uvicorn, one headless Chromium.

- ``service`` (session): the client tests' service (embedded, or ``GOBBLER_BINARY`` unchanged).
- ``world`` (session): a project with asset ``tables`` (``v1``, ``v2`` the latest, ``v3`` probational),
  and a project, asset, version and file with hostile names.
- ``big`` (session): a service of its own with one version of 20,000 files, and the app over it.
- ``app_url`` / ``local_app_url`` (session): the app on 127.0.0.1 (random port) over a remote-transport
  and a local-transport client.
- ``browser`` (session): Debian's ``chromium`` driven by Playwright; the tests using it are skipped, with
  the reason, only when no Chromium is installed.
- ``page``: a fresh tab that records dialogs and script errors; the test fails if any appeared.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gobbler_sdk import GobblerClient
from gobbler_sdk.browser import create_app
from gobbler_sdk.browser.server import bind, url_of
from gobbler_sdk.testing import GobblerService

from ..client.conftest import new_project, service
from ..client.support import Link, make_tree, me, unique
from ..conftest import GOBBLER_BINARY

__all__ = ["BIG_FILES", "CHROMIUM", "HOSTILE", "LONG", "Big", "Tab", "World", "service"]

CHROMIUM = os.environ.get("GOBBLER_CHROMIUM", "/usr/bin/chromium")
_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Where screenshots go: always a temporary directory (so the tests take them and check them), and also
# docs/images when GOBBLER_BROWSE_SCREENSHOTS=1 (``make screenshots``), to refresh the docs' pictures.
_DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"

# Names a careless page would turn into markup that runs a script.
HOSTILE = {
    "project": "<img src=x onerror=alert(1)>",
    "asset": "<svg onload=alert(2)>",
    "version": '"><img src=x onerror=alert(3)>',
    "file": "<img src=x onerror=alert(4)>.csv",
}

COUNTS = "gene,count,note\n" + "".join(f"G{i:03},{i * 7},row {i}\n" for i in range(1, 81))
BIG_FILES = 20_000
LONG = b"".join(b"line %07d of a long text file\n" % i for i in range(90_000))  # 2.7 MB


def png(width: int, height: int) -> bytes:
    """A real PNG image (an orange gradient) built with zlib alone."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + b"".join(bytes((255, (x * 255) // width, (y * 255) // height)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def parquet_bytes(rows: int) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "sample": [f"S{i}" for i in range(rows)],
            "depth": list(range(rows)),
            "ratio": [i / 4 for i in range(rows)],
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=max(1, rows // 4))
    return sink.getvalue()


@dataclass(frozen=True)
class World:
    """What the tests browse."""

    project: str
    hostile_project: str

    @property
    def tables(self) -> str:
        return f"{self.project}/tables"


def _v1_tree() -> dict[str, Any]:
    import gzip

    return {
        "counts.csv": COUNTS,
        "samples.tsv": "sample\tdepth\nS1\t30\nS2\t42\n",
        "table.parquet": parquet_bytes(100),
        "reads.fastq.gz": gzip.compress(b"@read1\nACGTACGT\n+\nIIIIIIII\n@read2\nTTTT\n+\nIIII\n"),
        "notes/readme.md": "# Notes\n\nThese tables are test data.\n",
        "meta.json": '{"organism": "mouse", "samples": 2}',
        "plot.png": png(64, 40),
        "page.html": "<html><body><script>window.__pwned = 1</script>page</body></html>\n",
        "figure.svg": '<svg xmlns="http://www.w3.org/2000/svg" onload="window.__pwned=1"></svg>\n',
        "alias.csv": Link("counts.csv"),
        "long.txt": LONG,
        "long.txt.gz": gzip.compress(LONG, compresslevel=1),
        "counts.tsv.gz": gzip.compress(COUNTS.replace(",", "\t").encode()),
        "big.parquet": parquet_bytes(200_000),
        "broken.parquet": b"PAR1" + b"\x00 not parquet at all " * 10 + b"PAR1",
        "blob.bin": b"\x00\x01\x02" + bytes(range(256)) * 64,
        "empty": None,
    }


def _fill_big(directory: Path) -> None:
    # Plain os calls: on a loaded disk, creating 20,000 files is the slow part of the whole module.
    for d in range(BIG_FILES // 200):
        folder = directory / f"batch{d:03}"
        os.mkdir(folder)
        for i in range(200):
            fd = os.open(folder / f"part{i:04}.txt", os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.write(fd, b"%d %d\n" % (d, i) * (i % 5 + 1))
            finally:
                os.close(fd)


@pytest.fixture(scope="session")
def world(service: GobblerService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    work = tmp_path_factory.mktemp("browse-world")
    with GobblerClient(service.url, cache=work / "cache") as client:
        project = client.project(new_project(service))
        tables = project.asset("tables")
        source = make_tree(work / "v1", _v1_tree())
        tables.upload("v1", source)
        (source / "counts.csv").write_text(COUNTS.replace("G001,7", "G001,8"))
        (source / "docs").mkdir()
        (source / "notes" / "readme.md").rename(source / "docs" / "readme.md")
        (source / "meta.json").unlink()
        (source / "new.txt").write_text("added in v2\n")
        tables.upload("v2", source)
        (source / "new.txt").write_text("changed on probation\n")
        tables.upload("v3", source, probation=True)

        hostile = client.project(f"{HOSTILE['project']}-{unique('p')}")
        service.request("create_project", {"project": hostile.name})
        weird = make_tree(
            work / "weird",
            {HOSTILE["file"]: "a,b\n<script>alert(5)</script>,2\n", "two\nlines\r.txt": "split\n"},
        )
        hostile.asset(HOSTILE["asset"]).upload(HOSTILE["version"], weird)
        yield World(project.name, hostile.name)


class _Served:
    """The app over one client, on 127.0.0.1 and a free port, in a thread (as ``gobbler-sdk browse`` runs)."""

    def __init__(self, client: GobblerClient) -> None:
        import uvicorn

        self._sock = bind("127.0.0.1", 0)
        self.url = url_of(self._sock)
        self._server = uvicorn.Server(uvicorn.Config(create_app(client), log_level="warning", lifespan="on"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def __enter__(self) -> _Served:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the browser app did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


def served(url: str, cache: Path, transport: str) -> Iterator[str]:
    """The app over a new client of the service at ``url``, served while the generator is suspended."""
    with (
        GobblerClient(url, cache=cache, transport=transport) as client,  # type: ignore[arg-type]
        _Served(client) as running,
    ):
        yield running.url


def _scratch(factory: pytest.TempPathFactory) -> Path:
    """A directory for 20,000 small files: in memory when /dev/shm has room, since creating and removing
    them on a busy disk takes a minute; the page's speed does not depend on where the registry is."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 << 30:
        return Path(tempfile.mkdtemp(prefix="gobbler-browse-", dir=shm))
    return factory.mktemp("browse-big")


@dataclass(frozen=True)
class Big:
    """A service of its own holding ``big/files/v1`` (20,000 files), and the app over it."""

    url: str
    project: str
    upload_seconds: float
    service_url: str


@pytest.fixture(scope="session")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Big]:
    scratch = _scratch(tmp_path_factory)
    try:
        staging = scratch / "staging"
        staging.mkdir(mode=0o1777)
        staging.chmod(0o1777)
        (scratch / "registry").mkdir()
        with GobblerService(staging, scratch / "registry", admin=[me()], binary=GOBBLER_BINARY) as running:
            project = new_project(running)
            with GobblerClient(running.url, cache=scratch / "cache", transport="remote") as client:
                # Filled in place in staging, so that the upload moves the files instead of copying.
                started = time.perf_counter()
                source = client.allocate_upload_directory()
                _fill_big(source)
                client.project(project).asset("files").upload("v1", source, consume=True)
                shutil.rmtree(source, ignore_errors=True)
                seconds = time.perf_counter() - started
                with _Served(client) as served:
                    yield Big(served.url, project, seconds, running.url)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="session")
def app_url(service: GobblerService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from served(service.url, tmp_path_factory.mktemp("browse-remote"), "remote")


@pytest.fixture(scope="session")
def local_app_url(service: GobblerService, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from served(service.url, tmp_path_factory.mktemp("browse-local"), "local")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium (make venv does, as root)")
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="browse-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=_ARGS,
                viewport={"width": 1280, "height": 800},
                accept_downloads=True,
            )
            context.set_default_timeout(10_000)
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


class Tab:
    """One page of the browser, with what it saw: dialogs opened and script errors thrown."""

    def __init__(self, page: Any, base: str, shots: Path) -> None:
        self.page = page
        self.base = base
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self._shots = shots
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self, path: str = "", *, base: str | None = None) -> Any:
        response = self.page.goto((base or self.base) + path.lstrip("/"))
        assert response is not None
        return response

    def pwned(self) -> bool:
        """Whether any script of a hostile name or file set the flag."""
        return bool(self.page.evaluate("() => window.__pwned === 1"))

    def shoot(self, name: str) -> Path:
        """A screenshot of the whole page, kept for the docs when asked (GOBBLER_BROWSE_SCREENSHOTS=1)."""
        path = self._shots / f"browse-{name}.png"
        self.page.screenshot(path=str(path), full_page=False)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if os.environ.get("GOBBLER_BROWSE_SCREENSHOTS") == "1":
            shutil.copyfile(path, _DOCS_IMAGES / path.name)
        return path


@pytest.fixture
def tab(browser: Any, app_url: str, tmp_path: Path) -> Iterator[Tab]:
    page = browser.new_page()
    made = Tab(page, app_url, tmp_path)
    try:
        yield made
    finally:
        page.close()
    assert made.dialogs == [], f"a script opened dialogs: {made.dialogs}"
    assert made.errors == [], f"scripts failed: {made.errors}"
