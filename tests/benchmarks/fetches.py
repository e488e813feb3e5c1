"""Workloads c, d and l: remote fetches into an empty cache.

Every measurement gets a fresh cache (or output) directory and a fresh client, created outside the timing;
connections are opened inside it, as they are for curl and ``http.client``. Each result is checked (file
count, size) so an incomplete fetch cannot pass for a fast one.
"""

from __future__ import annotations

import resource
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from gobbler_sdk import _ranged as ranged

from .base import (
    ClientCost,
    Row,
    Times,
    Workload,
    at_least,
    at_most,
    best,
    client_cost,
    combine,
    median,
    per_round,
    pyg_text,
    timed,
)
from .floors import (
    ARIA2C,
    CURL,
    FloorError,
    aria2c_output,
    count_files,
    curl_config,
    curl_output,
    curl_parallel,
    http_download,
    md5_in_memory,
)
from .settings import Sizes
from .workspace import PROJECT, Workspace, big_file, small_tree

try:
    import pygobbler  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - the dev extra installs it
    pygobbler = None


def _fastest(rounds: Sequence[Times], names: Sequence[str], prefix: str) -> str:
    """Which variant won how many rounds, e.g. ``8 (4 of 5 rounds)``."""
    winners: Counter[str] = Counter()
    for times in rounds:
        present = [n for n in names if n in times]
        if present:
            winners[min(present, key=times.__getitem__)] += 1
    if not winners:
        return "n/a"
    name, count = winners.most_common(1)[0]
    return f"{name.removeprefix(prefix)} ({count} of {len(rounds)} rounds)"


class TreeFetch(Workload):
    """Workload c: fetch a version of many small files into an empty cache, checksums verified."""

    key = "c"

    def __init__(self, workspace: Workspace, sizes: Sizes) -> None:
        super().__init__()
        self.workspace = workspace
        self.count = sizes.fetch_files
        self.title = f"remote fetch of a {self.count:,}-file version into an empty cache, verified"
        self.curls = [f"curl-p{n}" for n in sizes.curl_parallel] if CURL else []
        self.pygs = [f"pygobbler-c{n}" for n in sizes.pyg_concurrency] if pygobbler is not None else []
        self.contenders = [*self.curls, "sdk", *self.pygs]
        self.key_path = f"{PROJECT}/tree/v1"
        self.paths: list[str] = []

    def setup(self) -> None:
        """Upload the version once and list its files (``..`` files included, as every client fetches)."""
        source = self.workspace.data / "fetch-tree"
        source.mkdir()
        small_tree(source, self.count, seed=7)
        admin = self.workspace.primary.admin
        version = admin.project(PROJECT).asset("tree").upload("v1", source)
        shutil.rmtree(source)
        self.paths = [f"{self.key_path}/{p}" for p in version.files(force_remote=True)]

    def measure(self, contender: str, round_index: int) -> float:
        """Fetch the whole version once with one contender; check every file arrived."""
        endpoint = self.workspace.primary
        work = self.workspace.scratch(f"c-{contender}")
        try:
            if contender.startswith("curl-p"):
                output = work / "out"
                config = work / "curl.cfg"
                config.write_text(curl_config(endpoint.url, self.paths, output))
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                seconds = timed(lambda: curl_parallel(config, int(contender.removeprefix("curl-p"))))
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                # curl's own CPU time (a child process): what the machine charges for the same requests.
                cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                self.note_cost(round_index, contender, ClientCost(cpu, len(self.paths)))
                root = output / self.key_path
            elif contender == "sdk":
                client = endpoint.client(work)
                try:
                    found: list[Path] = []
                    version = client.project(PROJECT).asset("tree").version("v1")
                    with client_cost() as cost:
                        seconds = timed(lambda: found.append(version.fetch_directory(force_remote=True)))
                    self.note_cost(round_index, "sdk", cost)
                finally:
                    client.close()
                root = found[0]
            else:
                concurrent = int(contender.removeprefix("pygobbler-c"))
                done: list[str] = []

                def run() -> None:
                    done.append(
                        pygobbler.fetch_directory(
                            self.key_path,
                            str(endpoint.registry),
                            endpoint.url,
                            cache=str(work),
                            force_remote=True,
                            concurrent=concurrent,
                        )
                    )

                seconds = timed(run)
                root = Path(done[0])
            fetched = count_files(root)
            if fetched != len(self.paths):
                raise FloorError(f"{contender} fetched {fetched} files instead of {len(self.paths)}")
            return seconds
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def rows(self, rounds: Sequence[Times]) -> list[Row]:
        """One row: gobbler-sdk against curl's best, and pygobbler's best against gobbler-sdk."""

        def floor(t: Times) -> float | None:
            return best(t, self.curls)

        def pyg(t: Times) -> float | None:
            return best(t, self.pygs)

        sdk_ratio = per_round(rounds, lambda t: t.get("sdk"), floor)
        speedup = per_round(rounds, pyg, lambda t: t.get("sdk"))
        measured, met, verdict = combine(
            at_most(sdk_ratio, 2.5, "x curl"), at_least(speedup, 3.0, "x = pygobbler best / sdk")
        )
        return [
            Row(
                key=self.key,
                title=self.title,
                floor=median([floor(t) for t in rounds]),
                sdk=median([t.get("sdk") for t in rounds]),
                pyg=median([pyg(t) for t in rounds]),
                sdk_ratio=sdk_ratio,
                pyg_ratio=per_round(rounds, pyg, floor),
                target="<= 2.5x curl; >= 3x faster than pygobbler's best",
                measured=measured,
                met=met,
                verdict=verdict,
                floor_label=(
                    f"curl --parallel, best --parallel-max: {_fastest(rounds, self.curls, 'curl-p')}"
                    if self.curls
                    else "n/a (curl not installed)"
                ),
                pyg_label=pyg_text(
                    f"fetch_directory, best concurrent=: {_fastest(rounds, self.pygs, 'pygobbler-c')}"
                ),
                notes=[
                    self.cost_note("sdk"),
                    "curl's CPU per request (same requests, its process): "
                    + ", ".join(
                        f"{name.removeprefix('curl-p')}: {per * 1e6:.0f} µs"
                        for name in self.curls
                        if (per := self.cpu_per_request(name)) is not None
                    ),
                ],
                cpu_per_request=self.cpu_per_request("sdk"),
            )
        ]


class BigFetch(Workload):
    """Workload d: fetch one large file into an empty cache, checksum verified (and with verification off)."""

    key = "d"

    def __init__(self, workspace: Workspace, sizes: Sizes) -> None:
        super().__init__()
        self.workspace = workspace
        self.size = sizes.fetch_bytes
        self.title = f"remote fetch of one {self.size >> 20} MiB file, checksum verified"
        self.path = f"{PROJECT}/big/v1/big.bin"
        self.contenders = ["download", "md5", "sdk", "sdk-noverify"] + (["curl-o"] if CURL else [])
        if pygobbler is not None:
            self.contenders.append("pygobbler")
        self.data = b""
        self.md5 = ""
        self.noverify_label = ""

    def setup(self) -> None:
        """Upload the file once; keep its bytes in memory for the hashing floor."""
        source = self.workspace.data / "fetch-big"
        big_file(source / "big.bin", self.size)
        admin = self.workspace.primary.admin
        version = admin.project(PROJECT).asset("big").upload("v1", source)
        self.data = (source / "big.bin").read_bytes()
        shutil.rmtree(source)
        self.md5 = version.manifest()["big.bin"].md5sum
        self.noverify_label = "Version.fetch(verify=False)"

    def teardown(self) -> None:
        """Drop the in-memory copy."""
        self.data = b""

    def measure(self, contender: str, round_index: int) -> float:
        """Fetch (or hash) the file once with one contender; check the size (or digest)."""
        endpoint = self.workspace.primary
        work = self.workspace.scratch(f"d-{contender}")
        try:
            if contender == "md5":
                digests: list[str] = []
                seconds = timed(lambda: digests.append(md5_in_memory(self.data)))
                if digests[0] != self.md5:
                    raise FloorError("the in-memory MD5 does not match the manifest")
                return seconds
            if contender == "download":
                target = work / "big.bin"
                host, port = endpoint.host_port
                seconds = timed(lambda: http_download(host, port, self.path, target))
            elif contender == "curl-o":
                target = work / "big.bin"
                seconds = timed(lambda: curl_output(endpoint.url, self.path, target))
            elif contender.startswith("sdk"):
                seconds, target = self._sdk(work, verify=contender == "sdk")
            else:
                found: list[str] = []

                def run() -> None:
                    found.append(
                        pygobbler.fetch_file(
                            self.path,
                            str(endpoint.registry),
                            endpoint.url,
                            cache=str(work),
                            force_remote=True,
                        )
                    )

                seconds = timed(run)
                target = Path(found[0])
            if target.stat().st_size != self.size:
                raise FloorError(f"{contender} fetched {target.stat().st_size} bytes instead of {self.size}")
            return seconds
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _sdk(self, work: Path, *, verify: bool) -> tuple[float, Path]:
        client = self.workspace.primary.client(work)
        found: list[Path] = []
        try:
            version = client.project(PROJECT).asset("big").version("v1")
            seconds = timed(lambda: found.append(version.fetch("big.bin", force_remote=True, verify=verify)))
        finally:
            client.close()
        return seconds, found[0]

    def rows(self, rounds: Sequence[Times]) -> list[Row]:
        """Two rows: verified against max(download, md5), and unverified against the download alone."""

        def floor(t: Times) -> float | None:
            parts = [t.get("download"), t.get("md5")]
            return None if None in parts else max(p for p in parts if p is not None)

        def download(t: Times) -> float | None:
            return t.get("download")

        sdk_ratio = per_round(rounds, lambda t: t.get("sdk"), floor)
        raw_ratio = per_round(rounds, lambda t: t.get("sdk-noverify"), download)
        pyg_download = per_round(rounds, lambda t: t.get("pygobbler"), download)
        curl_ratio = per_round(rounds, lambda t: t.get("sdk"), lambda t: t.get("curl-o"))
        verified = at_most(sdk_ratio, 1.15, "x floor")
        unverified = at_most(raw_ratio, 1.1, "x download")
        return [
            Row(
                key="d",
                title=self.title,
                floor=median([floor(t) for t in rounds]),
                sdk=median([t.get("sdk") for t in rounds]),
                pyg=median([t.get("pygobbler") for t in rounds]),
                sdk_ratio=sdk_ratio,
                pyg_ratio=per_round(rounds, lambda t: t.get("pygobbler"), floor),
                target="<= 1.15x max(download, md5)",
                measured=verified[0],
                met=verified[1],
                verdict=verified[2],
                floor_label="max(http.client 1 MiB reads, hashlib.md5 in memory)",
                pyg_label=pyg_text("fetch_file (does not verify)"),
                notes=[
                    f"download alone {median([download(t) for t in rounds]) or 0:.3f} s, "
                    f"md5 alone {median([t.get('md5') for t in rounds]) or 0:.3f} s",
                    f"pygobbler / download alone = {pyg_download or 0:.2f}x",
                    f"gobbler-sdk (verified) / curl -o = {curl_ratio or 0:.2f}x (target <= 1.15x)",
                ],
            ),
            Row(
                key="d-noverify",
                title=f"d with verification off ({self.noverify_label})",
                floor=median([download(t) for t in rounds]),
                sdk=median([t.get("sdk-noverify") for t in rounds]),
                pyg=median([t.get("pygobbler") for t in rounds]),
                sdk_ratio=raw_ratio,
                pyg_ratio=pyg_download,
                target="<= 1.1x download",
                measured=unverified[0],
                met=unverified[1],
                verdict=unverified[2],
                floor_label="http.client 1 MiB reads",
                pyg_label=pyg_text("fetch_file"),
            ),
        ]


class RangedFetch(Workload):
    """Workload l: ``fetch_file`` of one large file, verified, against ``curl -o`` and ``aria2c -x 8 -s 8``.

    Meant for the latency mode (``--latency``), where one connection carries a fraction of the link and the
    SDK fetches the file as parallel ranges (:mod:`gobbler_sdk._ranged`); on loopback the SDK keeps to one
    stream. ``sdk-one-stream`` is the same fetch with ranges turned off, so the gain (or loss) of the ranged
    path shows in the same rounds. ``aria2c`` is skipped, with a note, when it is not installed (Debian's
    ``aria2`` package provides it).
    """

    key = "l"

    def __init__(self, workspace: Workspace, sizes: Sizes) -> None:
        super().__init__()
        self.workspace = workspace
        self.size = sizes.ranged_bytes
        self.title = f"fetch_file of one {self.size >> 20} MiB file, verified (parallel ranges when it pays)"
        self.path = f"{PROJECT}/ranged/v1/big.bin"
        self.contenders = (
            ["sdk", "sdk-one-stream"] + (["curl-o"] if CURL else []) + (["aria2c"] if ARIA2C else [])
        )

    def setup(self) -> None:
        """Upload the file once."""
        source = self.workspace.data / "fetch-ranged"
        big_file(source / "big.bin", self.size)
        self.workspace.primary.admin.project(PROJECT).asset("ranged").upload("v1", source)
        shutil.rmtree(source)

    def measure(self, contender: str, round_index: int) -> float:
        """Fetch the file once with one contender; check its size."""
        endpoint = self.workspace.primary
        work = self.workspace.scratch(f"l-{contender}")
        try:
            target = work / "big.bin"
            if contender == "curl-o":
                seconds = timed(lambda: curl_output(endpoint.url, self.path, target))
            elif contender == "aria2c":
                seconds = timed(lambda: aria2c_output(endpoint.url, self.path, target, 8))
            else:
                client = endpoint.client(work / "cache")
                found: list[Path] = []
                saved = ranged.RANGED_THRESHOLD
                if contender == "sdk-one-stream":
                    ranged.RANGED_THRESHOLD = 1 << 62
                try:
                    seconds = timed(lambda: found.append(client.fetch_file(self.path, force_remote=True)))
                finally:
                    ranged.RANGED_THRESHOLD = saved
                    client.close()
                target = found[0]
            if target.stat().st_size != self.size:
                raise FloorError(f"{contender} fetched {target.stat().st_size} bytes instead of {self.size}")
            return seconds
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def rows(self, rounds: Sequence[Times]) -> list[Row]:
        """One row: gobbler-sdk against ``curl -o``; notes for one stream and for aria2c."""

        def curl(t: Times) -> float | None:
            return t.get("curl-o")

        sdk_ratio = per_round(rounds, lambda t: t.get("sdk"), curl)
        one_stream = per_round(rounds, lambda t: t.get("sdk"), lambda t: t.get("sdk-one-stream"))
        aria = per_round(rounds, lambda t: t.get("aria2c"), curl)
        delayed = bool(self.workspace.latency)
        limit = 0.8 if delayed else 1.15
        measured, met, verdict = at_most(sdk_ratio, limit, "x curl -o")
        notes = [
            f"gobbler-sdk / its own one stream = {one_stream or 0:.2f}x "
            f"(one stream {median([t.get('sdk-one-stream') for t in rounds]) or 0:.3f} s)",
            f"aria2c -x 8 -s 8 / curl -o = {aria or 0:.2f}x "
            f"({median([t.get('aria2c') for t in rounds]) or 0:.3f} s)"
            if ARIA2C
            else "aria2c: not installed (apt-get install aria2), column skipped",
        ]
        return [
            Row(
                key=self.key,
                title=self.title,
                floor=median([curl(t) for t in rounds]),
                sdk=median([t.get("sdk") for t in rounds]),
                pyg=None,
                sdk_ratio=sdk_ratio,
                pyg_ratio=None,
                target=f"<= {limit}x curl -o" + (" (parallel ranges beat one connection)" if delayed else ""),
                measured=measured,
                met=met,
                verdict=verdict,
                floor_label="curl -o (one connection, not verified)",
                pyg_label="n/a",
                notes=notes,
            )
        ]
