"""Cancelling async operations: nothing half-written is left, and a submitted request is never resent."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from pathlib import Path

import pytest

from gobbler_sdk import AsyncGobblerClient, GobblerClient, OutcomeUnknownError, ProgressEvent
from gobbler_sdk.testing import GobblerService

from .conftest import new_project
from .support import Answer, LyingServer, make_tree, run_async, unique

FILES = 600


def _started(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> object:
    """A progress callback (run on a worker thread) that wakes the test at the 50th file, and dawdles."""

    def on_progress(progress: ProgressEvent) -> None:
        if progress.files_done >= 50:
            loop.call_soon_threadsafe(event.set)
        time.sleep(0.002)  # gives the test time to cancel half-way

    return on_progress


def _temporary_files(root: Path) -> list[str]:
    return [
        str(path.relative_to(root))
        for path in root.rglob("*")
        if re.match(r"\.gobbler-.*\.(part|link)$", path.name)
    ]


def test_cancelling_a_directory_download_leaves_only_complete_verified_files(
    service: GobblerService, tmp_path: Path
) -> None:
    run_async(_cancelling_a_directory_download_leaves_only_complete_verified_files(service, tmp_path))


async def _cancelling_a_directory_download_leaves_only_complete_verified_files(
    service: GobblerService, tmp_path: Path
) -> None:
    name = new_project(service)
    source = make_tree(
        service.staging / unique("src"), {f"d{i % 7}/f{i:04d}.txt": f"file {i}\n" * 20 for i in range(FILES)}
    )
    service.request("upload", {"source": source.name, "project": name, "asset": "a", "version": "v1"})
    cache = tmp_path / "cache"
    started = asyncio.Event()
    async with AsyncGobblerClient(service.url, transport="remote", cache=cache) as client:
        version = client.project(name).asset("a").version("v1")
        task = asyncio.create_task(
            version.fetch_directory(progress=_started(asyncio.get_running_loop(), started))  # type: ignore[arg-type]
        )
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()

    assert _temporary_files(cache) == []
    cached = [path for path in cache.rglob("f*.txt")]
    assert 0 < len(cached) < FILES, "the download stopped part-way"
    for path in cached:
        index = int(path.stem[1:])
        assert path.read_text() == f"file {index}\n" * 20
    with GobblerClient(service.url, transport="remote", cache=cache) as sync:
        report = sync.cache.verify()
        assert list(report) == []
        # The next call completes what the cancelled one began.
        complete = sync.project(name).asset("a").version("v1").fetch_directory()
        assert len(list(complete.rglob("f*.txt"))) == FILES


def test_cancelling_an_upload_while_it_copies_stops_and_removes_the_copy(
    service: GobblerService, tmp_path: Path
) -> None:
    run_async(_cancelling_an_upload_while_it_copies_stops_and_removes_the_copy(service, tmp_path))


async def _cancelling_an_upload_while_it_copies_stops_and_removes_the_copy(
    service: GobblerService, tmp_path: Path
) -> None:
    name = new_project(service)
    source = make_tree(tmp_path / "src", {f"f{i:04d}.txt": "x" * 100 for i in range(FILES)})
    before = set(os.listdir(service.staging))
    started = asyncio.Event()
    async with AsyncGobblerClient(service.url, cache=tmp_path / "cache") as client:
        asset = client.project(name).asset("a")
        task = asyncio.create_task(
            asset.upload("v1", source, progress=_started(asyncio.get_running_loop(), started))  # type: ignore[arg-type]
        )
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not await asset.version("v1").exists(force_remote=True)
    left = set(os.listdir(service.staging)) - before
    assert left == set(), "the staging copy and any request file are gone"


def test_cancelling_a_submitted_upload_reports_an_unknown_outcome_and_never_resends(
    service: GobblerService, tmp_path: Path
) -> None:
    run_async(_cancelling_a_submitted_upload_reports_an_unknown_outcome_and_never_resends(service, tmp_path))


async def _cancelling_a_submitted_upload_reports_an_unknown_outcome_and_never_resends(
    service: GobblerService, tmp_path: Path
) -> None:
    name = new_project(service)
    source = make_tree(tmp_path / "src", {"f.txt": "once"})
    with LyingServer(upstream=service.url, staging=service.staging) as proxy:
        # The service's answer to the submission is held back long enough to cancel while it is awaited.
        proxy.answer_prefix("/new/", Answer(200, {"status": "SUCCESS"}, delay=2.0), method="POST")
        async with AsyncGobblerClient(proxy.url, cache=tmp_path / "cache") as client:
            task = asyncio.create_task(client.project(name).asset("a").upload("v1", source))
            for _ in range(500):
                if proxy.paths("/new/", method="POST"):
                    break
                await asyncio.sleep(0.01)
            assert len(proxy.paths("/new/", method="POST")) == 1
            task.cancel()
            with pytest.raises(OutcomeUnknownError, match="MAY HAVE BEEN APPLIED"):
                await task
        # The worker still awaits the held-back answer, on its own connection even after the client was
        # closed; once the answer comes, the request file and the staging copy go (a broken connection
        # would have left the worker settling the outcome for half a minute, its request file in place).
        request = proxy.paths("/new/", method="POST")[0].removeprefix("/new/")
        for _ in range(1000):
            if not (service.staging / request).exists():
                break
            await asyncio.sleep(0.01)
        assert not (service.staging / request).exists()
        await asyncio.sleep(0.5)
        assert len(proxy.paths("/new/", method="POST")) == 1


def test_cancelling_a_read_does_not_disturb_the_others(service: GobblerService, tmp_path: Path) -> None:
    run_async(_cancelling_a_read_does_not_disturb_the_others(service, tmp_path))


async def _cancelling_a_read_does_not_disturb_the_others(service: GobblerService, tmp_path: Path) -> None:
    name = new_project(service)
    source = make_tree(service.staging / unique("src"), {"f.txt": "still here"})
    service.request("upload", {"source": source.name, "project": name, "asset": "a", "version": "v1"})
    async with AsyncGobblerClient(service.url, transport="remote", cache=tmp_path / "cache") as client:
        version = client.project(name).asset("a").version("v1")
        doomed = asyncio.create_task(version.manifest())
        doomed.cancel()
        kept = await asyncio.gather(*(version.read_bytes("f.txt") for _ in range(20)))
        assert kept == [b"still here"] * 20
        with pytest.raises(asyncio.CancelledError):
            await doomed
    assert threading.active_count() < 50
