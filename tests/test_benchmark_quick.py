"""The benchmark's quick mode runs end to end, so the harness never rots (no timing is asserted).

It runs against the embedded service, or against GOBBLER_BINARY (plus the embedded service for the upload
comparison) when that is set, like the rest of the suite.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.benchmarks.plots import scale_plots

ROOT = Path(__file__).resolve().parent.parent
TIME_ROWS = ["a", "b", "c", "d", "d-noverify", "e", "e2", "f", "h", "i-read", "i-range", "i-find", "i-csv"]
TIME_ROWS += ["j-polars", "j-duckdb", "j-datasets", "j-mounted", "k", "l", "m1", "m2-httpx", "m2-aiohttp"]
TIME_ROWS += ["m3", "m4"]
MEMORY_ROWS = ["g-fetch", "g-upload"]
SCALE_OPERATIONS = [
    "upload",
    "fetch",
    "reverify",
    "verify",
    "scan",
    "manifest",
    "files-local",
    "files-remote",
    "versions-local",
    "versions-remote",
    "latest-local",
    "latest-remote",
    "projects-local",
    "projects-remote",
]


def test_quick_benchmark_prints_every_row_and_writes_raw_times(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    completed = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks", "--quick", "--json", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    keys = [line.split("|")[1].strip() for line in completed.stdout.splitlines() if line.startswith("| ")]
    for row in TIME_ROWS + MEMORY_ROWS:
        assert row in keys, f"row {row} missing from:\n{completed.stdout}"

    document = json.loads(results.read_text())
    assert [row["key"] for row in document["rows"]] == TIME_ROWS
    assert [row["key"] for row in document["memory"]["rows"]] == MEMORY_ROWS
    # Scale (s) at the quick levels: every operation at both, with its growth, and the peaks measured.
    scale = document["scale"]
    levels = document["meta"]["sizes"]["scale_files"]
    assert [(r["operation"], r["files"]) for r in scale["rows"]] == [
        (operation, files) for operation in SCALE_OPERATIONS for files in levels
    ]
    assert all(r["sdk"] > 0 and r["growth"] > 0 for r in scale["rows"])
    # Quick measures peak memory at the largest level only (each measurement is a fresh interpreter).
    assert sorted(scale["memory"]) == sorted(
        ["sdk-baseline"] + [f"{mode}@{levels[-1]}" for mode in ("sdk-upload", "sdk-fetch-directory")]
    )
    scale_lines = [line for line in completed.stdout.splitlines() if line.startswith("| upload: ")]
    assert len(scale_lines) == len(levels), completed.stdout
    pngs = scale_plots(document, tmp_path)
    assert [p.name for p in pngs] == ["scale-time.png", "scale-upload-fetch.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)
    for workload in ["a", "b", "c", "d", "e", "f", "h", "j", "k", "l", "m", "s"]:
        rounds = document["raw"][workload]
        assert rounds, workload
        assert all(seconds > 0 for entry in rounds for seconds in entry["times"].values()), workload
    with_binary = bool(os.environ.get("GOBBLER_BINARY"))
    assert [row["key"] for row in document["services"]] == (["a", "b"] if with_binary else [])
    # The scratch tree (on tmpfs, or in the temp directory) is removed afterwards.
    scratch = re.search(r"^benchmark in (\S+) ", completed.stderr, re.MULTILINE)
    assert scratch is not None, completed.stderr[-4000:]
    assert not Path(scratch.group(1)).exists()
