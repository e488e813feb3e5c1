"""Many concurrent operations on one async client stay within its documented connection limit."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from gobbler_sdk import AsyncGobblerClient
from gobbler_sdk.testing import GobblerService

from ..benchmarks.asynchronous import connections_to
from .conftest import new_project
from .support import make_tree, run_async, unique

VERSIONS = 40
READS_EACH = 25


def test_a_thousand_concurrent_reads_stay_within_the_connection_limit(
    service: GobblerService, tmp_path: Path
) -> None:
    run_async(_a_thousand_concurrent_reads_stay_within_the_connection_limit(service, tmp_path))


async def _a_thousand_concurrent_reads_stay_within_the_connection_limit(
    service: GobblerService, tmp_path: Path
) -> None:
    name = new_project(service)
    for index in range(VERSIONS):
        source = make_tree(service.staging / unique("src"), {"f.txt": f"v{index}"})
        service.request(
            "upload", {"source": source.name, "project": name, "asset": "a", "version": f"v{index}"}
        )
    port = int(service.url.rsplit(":", 1)[1])
    most = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal most
        while not stop.is_set():
            most = max(most, connections_to(port))
            stop.wait(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        async with AsyncGobblerClient(service.url, transport="remote", cache=tmp_path / "cache") as client:
            asset = client.project(name).asset("a")
            reads = [
                asset.version(f"v{index}").manifest(overwrite=True)
                for index in range(VERSIONS)
                for _ in range(READS_EACH)
            ]
            manifests = await asyncio.gather(*reads)
            limit = client.concurrency + 1  # the worker threads' connections, and the one for /info
    finally:
        stop.set()
        watcher.join()
    assert len(manifests) == VERSIONS * READS_EACH
    assert [m["f.txt"].size for m in manifests] == [
        len(f"v{i}") for i in range(VERSIONS) for _ in range(READS_EACH)
    ]
    assert 1 <= most <= limit
