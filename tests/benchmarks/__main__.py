"""Command line: ``python -m tests.benchmarks [--quick] [--rounds N] [--only a,c] [--scale] [--json PATH]``.

The rounds interleave every selected workload: round after round, each workload runs all its contenders (in
an order rotated every round), so drift on a shared machine spreads over every contender instead of
favouring whichever ran last. The first ``--warmup`` rounds are measured and discarded.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gobbler_sdk import __version__ as sdk_version

from .asynchronous import AsyncClient
from .base import Row, ServiceRow, Workload
from .diffs import VersionDiffs
from .engines import EngineQueries
from .fetches import BigFetch, RangedFetch, TreeFetch
from .floors import curl_version
from .latency import LINUX_WINDOW, parse_delay, parse_window
from .memory import REPOSITORY, Memory, MemoryRow
from .metadata import LatestOfMany, Metadata, TypedManifest
from .plots import DOCS_IMAGES, write_all
from .pydata import FsspecReads
from .report import markdown, write_json
from .scale import Scale, ScaleRow
from .settings import FULL, LATENCY_CURL_PARALLEL, LATENCY_PYG_CONCURRENCY, QUICK, Sizes
from .uploads import one_big_file, small_files
from .workspace import Workspace

try:
    import pygobbler  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - the dev extra installs it
    pygobbler = None

KEYS = ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "s")
#: What a full run does unless ``--only`` says otherwise: the scale workloads (s) take long at full size.
DEFAULT_KEYS = tuple(k for k in KEYS if k != "s")
#: What ``--latency`` runs unless ``--only`` says otherwise: the reads a network delay slows down.
LATENCY_KEYS = ("c", "d", "e", "h", "l", "m")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes, one round (keeps the harness alive)"
    )
    parser.add_argument("--rounds", type=int, help="rounds kept (default: 5, quick: 1)")
    parser.add_argument("--warmup", type=int, help="rounds discarded first (default: 1, quick: 0)")
    parser.add_argument("--only", help=f"comma-separated workloads among {','.join(KEYS)} (default: all)")
    parser.add_argument(
        "--json", type=Path, default=REPOSITORY / ".bench" / "results.json", help="where raw times go"
    )
    parser.add_argument(
        "--latency",
        type=parse_delay,
        nargs="?",
        const=0.02,
        help="round trip added between clients and service, e.g. 20ms (alone: 20ms); runs c,d,e,h,l",
    )
    parser.add_argument(
        "--window",
        type=parse_window,
        default=LINUX_WINDOW,
        help="with --latency: largest congestion window of one connection, e.g. 4MiB (the default, as "
        "Linux's tcp_wmem), or 0 for the delay alone (one connection then carries all the proxy forwards)",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="run the scale workloads (s) at 1,000, 10,000 and 100,000 files; writes results-scale.json",
    )
    parser.add_argument(
        "--scale-sizes",
        type=parse_sizes,
        help="comma-separated file counts for s, e.g. 1000,10000 (implies --scale)",
    )
    options = parser.parse_args(argv)
    options.scale = options.scale or options.scale_sizes is not None
    if options.scale and options.latency is not None:
        parser.error("--scale and --latency do not combine (the scale levels use services of their own)")
    if options.latency is not None and options.json == parser.get_default("json"):
        options.json = options.json.with_name("results-latency.json")
    if options.scale and options.json == parser.get_default("json"):
        options.json = options.json.with_name("results-scale.json")
    if options.latency is not None:
        everything: Sequence[str] = LATENCY_KEYS
    elif options.scale:
        everything = ("s",)
    else:
        everything = KEYS if options.quick else DEFAULT_KEYS
    selected = [k.strip() for k in (options.only or ",".join(everything)).split(",") if k.strip()]
    unknown = sorted(set(selected) - set(KEYS))
    if unknown:
        parser.error(f"unknown workloads {', '.join(unknown)}; choose among {', '.join(KEYS)}")
    options.selected = selected
    return options


def parse_sizes(text: str) -> tuple[int, ...]:
    """``1000,10000`` as file counts (at least 1 each)."""
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of file counts: {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"file counts must be at least 1: {text!r}")
    return sizes


def log(message: str) -> None:
    """Progress on stderr (stdout carries only the table)."""
    print(message, file=sys.stderr, flush=True)


def build(workspace: Workspace, sizes: Sizes, selected: Sequence[str]) -> list[Workload]:
    """The timed workloads chosen on the command line, in table order."""
    factories: dict[str, Callable[[], Workload]] = {
        "a": lambda: small_files(workspace, sizes.upload_files),
        "b": lambda: one_big_file(workspace, sizes.upload_bytes),
        "c": lambda: TreeFetch(workspace, sizes),
        "d": lambda: BigFetch(workspace, sizes),
        "e": lambda: Metadata(workspace, sizes),
        "f": lambda: TypedManifest(workspace, sizes),
        "h": lambda: LatestOfMany(workspace, sizes),
        "i": lambda: FsspecReads(workspace, sizes),
        "j": lambda: EngineQueries(workspace, sizes),
        "k": lambda: VersionDiffs(workspace, sizes),
        "l": lambda: RangedFetch(workspace, sizes),
        "m": lambda: AsyncClient(workspace, sizes),
        "s": lambda: Scale(workspace, sizes),
    }
    return [factories[key]() for key in KEYS if key in selected and key in factories]


def git_commit() -> tuple[str, bool] | None:
    """The checked-out commit and whether the tree has uncommitted changes, if git knows."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPOSITORY,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPOSITORY,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit, bool(dirty)


def cpu_model() -> str:
    """The processor's name as the kernel reports it (``/proc/cpuinfo``), else what Python knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                name, _, value = line.partition(":")
                if name.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (empty where the system does not tell)."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def starting_facts() -> dict[str, Any]:
    """What is recorded before anything runs: the commit measured, the CPU, and how busy the machine is."""
    found = git_commit()
    return {
        "commit": found[0] if found else None,
        "dirty": found[1] if found else None,
        "cpu_model": cpu_model(),
        "load_before": load_average(),
    }


def describe(workspace: Workspace, sizes: Sizes, quick: bool) -> dict[str, Any]:
    """Facts about this run for the report header and the JSON file."""
    primary = workspace.primary.service
    service = f"binary {workspace.binary}" if primary.backend == "binary" else "embedded"
    return {
        "mode": "quick" if quick else "full",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "platform": platform.platform(),
        "python": platform.python_version(),
        "service": service,
        "gobbler_sdk": sdk_version,
        "pygobbler": getattr(pygobbler, "__version__", None),
        "curl": curl_version(),
        "rounds": sizes.rounds,
        "warmup": sizes.warmup,
        "tmpfs": workspace.on_tmpfs,
        "sizes": sizes.to_json(),
        "latency": workspace.latency,
        "latency_method": workspace.latency_method,
        "latency_window": workspace.window if workspace.latency else None,
        "measured_rtt": workspace.measured_rtt,
    }


def run(options: argparse.Namespace) -> int:
    """Set up, measure every round, report; returns the exit status."""
    sizes = QUICK if options.quick else FULL
    sizes = dataclasses.replace(
        sizes,
        rounds=options.rounds if options.rounds is not None else sizes.rounds,
        warmup=options.warmup if options.warmup is not None else sizes.warmup,
    )
    if options.latency is not None:
        sizes = dataclasses.replace(
            sizes, curl_parallel=LATENCY_CURL_PARALLEL, pyg_concurrency=LATENCY_PYG_CONCURRENCY
        )
    if options.scale_sizes is not None:
        sizes = dataclasses.replace(sizes, scale_files=options.scale_sizes)
    if sizes.rounds < 1 or sizes.warmup < 0:
        raise SystemExit("--rounds must be at least 1 and --warmup at least 0")
    started = time.perf_counter()
    facts = starting_facts()
    log(
        f"commit {facts['commit'] or 'unknown'}{' (uncommitted changes)' if facts['dirty'] else ''}, "
        f"CPU {facts['cpu_model']}, load average {'/'.join(map(str, facts['load_before'])) or 'unknown'}"
    )
    needed = sizes.scratch_bytes + (sizes.scale_bytes if "s" in options.selected else 0)
    workspace = Workspace(needed, options.latency, options.window)
    workloads: list[Workload] = []
    memory: Memory | None = None
    try:
        workspace.start()
        log(
            f"benchmark in {workspace.root} (tmpfs: {workspace.on_tmpfs}), services: "
            + ", ".join(f"{e.label} {e.url}" for e in workspace.endpoints)
            + (
                f"; {workspace.latency_method} adds {options.latency * 1000:g} ms, measured round trip "
                f"{(workspace.measured_rtt or 0) * 1000:.1f} ms, window of a connection at most "
                f"{options.window} bytes"
                if options.latency
                else ""
            )
        )
        for workload in build(workspace, sizes, options.selected):
            log(f"setting up {workload.key}")
            workloads.append(workload)
            workload.setup()
        raw: dict[str, list[dict[str, Any]]] = {w.key: [] for w in workloads}
        for round_index in range(-sizes.warmup, sizes.rounds):
            label = "warm-up" if round_index < 0 else f"round {round_index + 1}/{sizes.rounds}"
            for workload in workloads:
                order = workload.order(round_index)
                workload.settle(round_index)
                measured = {name: workload.measure(name, round_index) for name in order}
                raw[workload.key].append(
                    {"round": round_index, "warmup": round_index < 0, "order": order, "times": measured}
                )
                log(f"[{label}] {workload.key}: " + ", ".join(f"{n} {s:.3f}s" for n, s in measured.items()))
        rows: list[Row] = []
        services: list[ServiceRow] = []
        scale_rows: list[ScaleRow] = []
        scale_memory: dict[str, dict[str, float]] = {}
        for workload in workloads:
            kept = [entry["times"] for entry in raw[workload.key] if not entry["warmup"]]
            rows += workload.rows(kept)
            services += workload.service_rows(kept)
            if isinstance(workload, Scale):
                log("measuring peak memory at every scale level (s)")
                workload.measure_memory()
                scale_rows = workload.scale_rows(kept)
                scale_memory = workload.memory
            for entry in raw[workload.key]:
                entry["extras"] = workload.extras.get(entry["round"], {})
        memory_rows: list[MemoryRow] = []
        if "g" in options.selected:
            log("measuring peak memory (g)")
            memory = Memory(workspace, sizes)
            memory.setup()
            memory_rows = memory.run()
        meta = {**describe(workspace, sizes, options.quick), **facts, "load_after": load_average()}
        meta["elapsed_seconds"] = round(time.perf_counter() - started, 1)
        write_json(
            options.json,
            meta,
            raw,
            rows,
            memory_rows,
            memory.raw if memory else {},
            services,
            scale=(scale_rows, scale_memory),
        )
        print(markdown(meta, rows, memory_rows, services, scale_rows), end="")
        log(f"raw times written to {options.json} ({meta['elapsed_seconds']} s in all)")
        if not options.quick:
            # Only a run of every workload redraws the docs' plots: a run of a few (--only) would leave
            # them showing those alone.
            docs = DOCS_IMAGES if options.only is None else None
            log("plots: " + ", ".join(str(p) for p in write_all(options.json.parent, docs)))
        return 0
    finally:
        for workload in workloads:
            workload.teardown()
        if memory is not None:
            memory.teardown()
        workspace.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    return run(parse(argv))


if __name__ == "__main__":
    sys.exit(main())
