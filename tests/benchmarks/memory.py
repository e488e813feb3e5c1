"""Workload g: peak memory of a large fetch and of a many-file upload, each in a fresh child process.

The operation's peak resident set is read by a small intermediate process with
``getrusage(RUSAGE_CHILDREN)`` (see :mod:`tests.benchmarks.child` for why not from here directly). What an
operation *adds* is its peak minus the peak of a baseline child that only imports the same library and makes
one request.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .base import at_most
from .floors import FloorError
from .settings import Sizes
from .workspace import PROJECT, Workspace, big_file, small_tree

try:
    import pygobbler  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - the dev extra installs it
    pygobbler = None

REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass
class MemoryRow:
    """Peak RSS (MiB) of one operation for each library, with the baseline it is compared to."""

    key: str
    title: str
    sdk_peak: float | None
    sdk_baseline: float | None
    pyg_peak: float | None
    pyg_baseline: float | None
    sdk_seconds: float | None
    pyg_seconds: float | None
    target: str
    measured: str
    met: bool | None
    verdict: str

    def to_json(self) -> dict[str, Any]:
        """Plain-data form for the JSON report."""
        return asdict(self)


def peak_rss(mode: str, args: dict[str, Any]) -> tuple[float, float]:
    """Peak RSS (MiB) and duration (s, interpreter start-up included) of one operation in a fresh process."""
    command = [sys.executable, "-m", "tests.benchmarks.child", "measure", mode, json.dumps(args)]
    result = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise FloorError(f"{mode} child failed ({result.returncode}): {result.stderr[-2000:]}")
    report = json.loads(result.stdout.splitlines()[-1])
    # Linux reports ru_maxrss in KiB.
    return report["peak_kib"] / 1024, float(report["seconds"])


class Memory:
    """Measures g once per run (peak memory barely varies between runs, unlike time)."""

    key = "g"

    def __init__(self, workspace: Workspace, sizes: Sizes) -> None:
        self.workspace = workspace
        self.fetch_bytes = sizes.memory_fetch_bytes
        self.upload_files = sizes.memory_upload_files
        self.path = f"{PROJECT}/mem/v1/big.bin"
        self.source = workspace.data / "mem-upload"
        self.raw: dict[str, dict[str, float]] = {}

    def setup(self) -> None:
        """Upload the file to fetch and generate the many-file tree to upload."""
        staged = self.workspace.data / "mem-big"
        big_file(staged / "big.bin", self.fetch_bytes)
        self.workspace.primary.admin.project(PROJECT).asset("mem").upload("v1", staged)
        shutil.rmtree(staged)
        self.source.mkdir()
        small_tree(self.source, self.upload_files, seed=13)

    def teardown(self) -> None:
        """Drop the generated tree."""
        shutil.rmtree(self.source, ignore_errors=True)

    def _measure(self, mode: str) -> tuple[float, float]:
        endpoint = self.workspace.primary
        cache = self.workspace.scratch(f"g-{mode}")
        asset = f"g-{mode}-{secrets.token_hex(3)}"
        args = {
            "url": endpoint.url,
            "staging": str(endpoint.staging),
            "registry": str(endpoint.registry),
            "cache": str(cache),
            "path": self.path,
            "project": PROJECT,
            "asset": asset,
            "source": str(self.source),
        }
        try:
            peak, seconds = peak_rss(mode, args)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
            if mode.endswith("-upload"):
                endpoint.remove_asset(asset)
        self.raw[mode] = {"peak_mib": peak, "seconds": seconds}
        return peak, seconds

    def run(self) -> list[MemoryRow]:
        """Measure every mode once and judge the targets."""
        libraries = ["sdk"] + (["pyg"] if pygobbler is not None else [])
        peaks: dict[str, float] = {}
        seconds: dict[str, float] = {}
        for library in libraries:
            for operation in ("baseline", "fetch", "upload"):
                mode = f"{library}-{operation}"
                peaks[mode], seconds[mode] = self._measure(mode)

        def added(library: str) -> float | None:
            mode = f"{library}-fetch"
            return peaks[mode] - peaks[f"{library}-baseline"] if mode in peaks else None

        fetch_check = at_most(added("sdk"), 64, " MiB added")
        upload_check = at_most(peaks.get("sdk-upload"), 200, " MiB peak")
        return [
            MemoryRow(
                key="g-fetch",
                title=f"peak RSS added by a remote fetch of one {self.fetch_bytes >> 20} MiB file",
                sdk_peak=peaks.get("sdk-fetch"),
                sdk_baseline=peaks.get("sdk-baseline"),
                pyg_peak=peaks.get("pyg-fetch"),
                pyg_baseline=peaks.get("pyg-baseline"),
                sdk_seconds=seconds.get("sdk-fetch"),
                pyg_seconds=seconds.get("pyg-fetch"),
                target="adds <= 64 MiB",
                measured=fetch_check[0],
                met=fetch_check[1],
                verdict=fetch_check[2],
            ),
            MemoryRow(
                key="g-upload",
                title=f"peak RSS of an upload of {self.upload_files:,} small files (outside staging)",
                sdk_peak=peaks.get("sdk-upload"),
                sdk_baseline=peaks.get("sdk-baseline"),
                pyg_peak=peaks.get("pyg-upload"),
                pyg_baseline=peaks.get("pyg-baseline"),
                sdk_seconds=seconds.get("sdk-upload"),
                pyg_seconds=seconds.get("pyg-upload"),
                target="<= 200 MiB RSS",
                measured=upload_check[0],
                met=upload_check[1],
                verdict=upload_check[2],
            ),
        ]
