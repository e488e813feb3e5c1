"""Workload m (issue 20): the async client, side by side with the sync client, curl and other async stacks.

- **m1** fetches the 2,000-file version of workload c with ``AsyncVersion.fetch_directory``, next to the
  sync client and ``curl --parallel --parallel-max 64`` (the floor). Run with ``--latency`` for the 20 ms
  row (target <= 1.1x curl there).
- **m2** measures the HTTP stacks an async client could be built on, each fetching the same 2,000 files
  into a directory with 64 requests in flight: ``httpx.AsyncClient`` and ``aiohttp`` (neither caching nor
  verifying, so they are lower bounds of what they would cost) against the async client, which does both.
- **m3** awaits ``manifest()`` of 1,000 different versions at once on one client and notes the most
  connections open to the service at any moment (its documented limit: ``concurrency`` + 1).
- **m4** watches the event loop while the async client fetches and verifies one large file, and while it
  uploads 2,000 files: a 1 ms heartbeat records its latest wake-up (target <= 50 ms).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from gobbler_sdk import AsyncGobblerClient

from .base import Row, Times, Workload, at_most, median, per_round, timed
from .floors import CURL, FloorError, count_files, curl_config, curl_parallel
from .settings import Sizes
from .workspace import PROJECT, Workspace, big_file, small_tree

try:
    import aiohttp
except ImportError:  # pragma: no cover - the dev extra installs it
    aiohttp = None  # type: ignore[assignment]

WINDOW = 64


def connections_to(port: int) -> int:
    """Established TCP connections of this process to ``port``."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(target[8:-1])
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[3] == "01" and fields[9] in mine:
                    count += 1
    return count


async def _worst_stall(work: Awaitable[Any]) -> tuple[float, Any]:
    """Run ``work`` while a 1 ms heartbeat measures how late the loop wakes it; return the worst delay."""
    done = asyncio.Event()
    worst = 0.0

    async def heartbeat() -> None:
        nonlocal worst
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            worst = max(worst, time.perf_counter() - start - 0.001)

    beat = asyncio.create_task(heartbeat())
    try:
        result = await work
    finally:
        done.set()
        await beat
    return worst, result


class AsyncClient(Workload):
    """Workload m: the async client against curl, the sync client and the other async HTTP stacks."""

    key = "m"

    def __init__(self, workspace: Workspace, sizes: Sizes) -> None:
        super().__init__()
        self.workspace = workspace
        self.count = sizes.fetch_files
        self.big = sizes.fetch_bytes
        self.title = f"async client: {self.count:,} files, 1,000 manifests at once, loop stalls"
        stacks = ["httpx-async"] + (["aiohttp"] if aiohttp is not None else [])
        self.contenders = (["curl-p64"] if CURL else []) + ["sync", "async", *stacks, "manifests", "stall"]
        self.paths: list[str] = []
        self.versions = min(1000, self.count // 2)
        self.upload_source: Path | None = None

    def setup(self) -> None:
        """The 2,000-file version, ``versions`` one-file versions, one large file, a tree to upload."""
        admin = self.workspace.primary.admin
        source = self.workspace.data / "async-tree"
        source.mkdir()
        small_tree(source, self.count, seed=7)
        version = admin.project(PROJECT).asset("async-tree").upload("v1", source)
        self.upload_source = source  # kept: m4 uploads it again
        self.paths = [f"{PROJECT}/async-tree/v1/{p}" for p in version.files(force_remote=True)]
        one = self.workspace.data / "async-one"
        one.mkdir()
        (one / "f.txt").write_text("x")
        asset = admin.project(PROJECT).asset("async-many")
        for index in range(self.versions):
            asset.upload(f"v{index}", one)
        big = self.workspace.data / "async-big"
        big_file(big / "big.bin", self.big)
        admin.project(PROJECT).asset("async-big").upload("v1", big)
        shutil.rmtree(big)

    def teardown(self) -> None:
        """Remove the tree kept for uploads."""
        if self.upload_source is not None:
            shutil.rmtree(self.upload_source, ignore_errors=True)

    def _client(self, cache: Path) -> AsyncGobblerClient:
        endpoint = self.workspace.primary
        return AsyncGobblerClient(
            endpoint.url,
            staging=endpoint.staging,
            registry=endpoint.registry,
            cache=cache,
            transport="remote",
        )

    def measure(self, contender: str, round_index: int) -> float:
        """Run one contender once; check what it fetched."""
        endpoint = self.workspace.primary
        work = self.workspace.scratch(f"m-{contender}")
        try:
            if contender == "curl-p64":
                output = work / "out"
                config = work / "curl.cfg"
                config.write_text(curl_config(endpoint.url, self.paths, output))
                seconds = timed(lambda: curl_parallel(config, WINDOW))
                self._check(count_files(output / f"{PROJECT}/async-tree/v1"), contender)
                return seconds
            if contender == "sync":
                client = endpoint.client(work, transport="remote")
                try:
                    found: list[Path] = []
                    version = client.project(PROJECT).asset("async-tree").version("v1")
                    seconds = timed(lambda: found.append(version.fetch_directory(progress=False)))
                finally:
                    client.close()
                self._check(count_files(found[0]), contender)
                return seconds
            if contender == "async":
                return self._run(self._async_fetch(work))
            if contender in ("httpx-async", "aiohttp"):
                return self._run(self._stack_fetch(contender, work))
            if contender == "manifests":
                return self._run(self._manifests(work, round_index))
            return self._run(self._stalls(work, round_index))
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _check(self, fetched: int, contender: str) -> None:
        if fetched != len(self.paths):
            raise FloorError(f"{contender} fetched {fetched} files instead of {len(self.paths)}")

    @staticmethod
    def _run(coroutine: Awaitable[float]) -> float:
        async def main() -> float:
            return await coroutine

        return asyncio.run(main())

    async def _async_fetch(self, work: Path) -> float:
        async with self._client(work) as client:
            version = client.project(PROJECT).asset("async-tree").version("v1")
            start = time.perf_counter()
            root = await version.fetch_directory(progress=False)
            seconds = time.perf_counter() - start
        self._check(count_files(root), "async")
        return seconds

    async def _stack_fetch(self, stack: str, work: Path) -> float:
        base = self.workspace.primary.url
        output = work / "out"
        for path in self.paths:
            (output / path).parent.mkdir(parents=True, exist_ok=True)
        gate = asyncio.Semaphore(WINDOW)

        async def each(get: Callable[[str], Awaitable[bytes]], path: str) -> None:
            async with gate:
                (output / path).write_bytes(await get(f"{base}/fetch/{quote(path)}"))

        start = time.perf_counter()
        if stack == "httpx-async":
            limits = httpx.Limits(max_connections=WINDOW, max_keepalive_connections=WINDOW)
            async with httpx.AsyncClient(limits=limits) as http:

                async def get(url: str) -> bytes:
                    answer = await http.get(url)
                    answer.raise_for_status()
                    return answer.content

                await asyncio.gather(*(each(get, path) for path in self.paths))
        else:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=WINDOW)) as session:

                async def get(url: str) -> bytes:
                    async with session.get(url) as answer:
                        answer.raise_for_status()
                        return await answer.read()

                await asyncio.gather(*(each(get, path) for path in self.paths))
        seconds = time.perf_counter() - start
        self._check(count_files(output / f"{PROJECT}/async-tree/v1"), stack)
        return seconds

    async def _manifests(self, work: Path, round_index: int) -> float:
        port = int(self.workspace.primary.url.rsplit(":", 1)[1])
        # The benchmark's own admin client may keep a connection open: only the new ones are the client's.
        before = connections_to(port)
        most = 0
        stop = threading.Event()

        def watch() -> None:
            nonlocal most
            while not stop.is_set():
                most = max(most, connections_to(port) - before)
                stop.wait(0.002)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            async with self._client(work) as client:
                asset = client.project(PROJECT).asset("async-many")
                start = time.perf_counter()
                manifests = await asyncio.gather(
                    *(asset.version(f"v{index}").manifest() for index in range(self.versions))
                )
                seconds = time.perf_counter() - start
                limit = client.concurrency + 1
        finally:
            stop.set()
            watcher.join()
        if [m["f.txt"].size for m in manifests] != [1] * self.versions:
            raise FloorError("a manifest read concurrently was wrong")
        self.note(round_index, "m3_most_connections", most)
        self.note(round_index, "m3_connection_limit", limit)
        return seconds

    async def _stalls(self, work: Path, round_index: int) -> float:
        assert self.upload_source is not None
        start = time.perf_counter()
        async with self._client(work / "cache") as client:
            version = client.project(PROJECT).asset("async-big").version("v1")
            fetch_stall, path = await _worst_stall(version.fetch("big.bin", progress=False))
            if Path(path).stat().st_size != self.big:
                raise FloorError("the large file arrived with another size")
            asset = client.project(PROJECT).asset("async-uploads")
            upload_stall, _ = await _worst_stall(
                asset.upload(f"r{round_index}-{time.time_ns()}", self.upload_source, progress=False)
            )
        self.note(round_index, "m4_fetch_stall_ms", round(fetch_stall * 1000, 2))
        self.note(round_index, "m4_upload_stall_ms", round(upload_stall * 1000, 2))
        return time.perf_counter() - start

    def rows(self, rounds: Sequence[Times]) -> list[Row]:
        """m1 against curl, m2 the stacks against the async client, m3 and m4 their notes."""
        floor = (lambda t: t.get("curl-p64")) if CURL else (lambda t: t.get("sync"))
        async_ratio = per_round(rounds, lambda t: t.get("async"), floor)
        measured, met, verdict = at_most(async_ratio, 1.1, "x curl")
        extras = [self.extras.get(index, {}) for index in sorted(self.extras)]

        def noted(name: str) -> float | None:
            values = [extra[name] for extra in extras if name in extra]
            return max(values) if values else None

        rows = [
            Row(
                key="m1",
                title=f"async fetch_directory of {self.count:,} files (sync client beside it)",
                floor=median([floor(t) for t in rounds]),
                sdk=median([t.get("async") for t in rounds]),
                pyg=median([t.get("sync") for t in rounds]),
                sdk_ratio=async_ratio,
                pyg_ratio=per_round(rounds, lambda t: t.get("sync"), floor),
                target="<= 1.1x curl --parallel-max 64 (at 20 ms: --latency)",
                measured=measured,
                met=met,
                verdict=verdict,
                floor_label="curl --parallel --parallel-max 64" if CURL else "the sync client (no curl)",
                pyg_label="the sync client's fetch_directory (in the pygobbler column)",
            )
        ]
        for stack in ("httpx-async", "aiohttp"):
            if stack not in self.contenders:
                continue
            ratio = per_round(rounds, lambda t: t.get("async"), lambda t, s=stack: t.get(s))
            rows.append(
                Row(
                    key=f"m2-{stack.removesuffix('-async')}",
                    title=f"{stack}: {self.count:,} GETs into files, {WINDOW} in flight (no cache, no MD5)",
                    floor=median([t.get(stack) for t in rounds]),
                    sdk=median([t.get("async") for t in rounds]),
                    pyg=None,
                    sdk_ratio=ratio,
                    pyg_ratio=None,
                    target="informative: async client / this stack",
                    measured=f"{ratio:.2f}x" if ratio is not None else "n/a",
                    met=None,
                    verdict="",
                    floor_label=stack,
                )
            )
        most, limit = noted("m3_most_connections"), noted("m3_connection_limit")
        rows.append(
            Row(
                key="m3",
                title=f"{self.versions:,} concurrent manifest() reads of different versions, one client",
                floor=None,
                sdk=median([t.get("manifests") for t in rounds]),
                pyg=None,
                sdk_ratio=None,
                pyg_ratio=None,
                target="connections <= the client's limit (concurrency + 1), no error",
                measured=f"most connections {most}, limit {limit}",
                met=None if most is None or limit is None else most <= limit,
                verdict="",
            )
        )
        fetch_stall, upload_stall = noted("m4_fetch_stall_ms"), noted("m4_upload_stall_ms")
        worst = max(fetch_stall or 0.0, upload_stall or 0.0)
        rows.append(
            Row(
                key="m4",
                title=f"worst loop stall: {self.big >> 20} MiB fetch+verify, {self.count:,} files uploaded",
                floor=None,
                sdk=median([t.get("stall") for t in rounds]),
                pyg=None,
                sdk_ratio=None,
                pyg_ratio=None,
                target="<= 50 ms",
                measured=f"fetch {fetch_stall} ms, upload {upload_stall} ms (worst of all rounds)",
                met=None if fetch_stall is None else worst <= 50.0,
                verdict="",
            )
        )
        return rows
