"""How fast the embedded service serves files, side by side with ``GOBBLER_BINARY`` (issue 24).

``python -m tests.benchmarks.serving [--rounds N] [--files N] [--big-mib N]``: one registry on tmpfs,
served by the embedded service and, when ``GOBBLER_BINARY`` is set, by that binary too (both read the
same files). Each round runs every workload against every service, in an order rotated each round:

- ``small``: one ``curl --parallel --parallel-max 16`` process fetching 2,000 files of 1-4 KiB;
- ``keepalive``: the same 2,000 GETs one after the other on one ``http.client`` connection;
- ``large``: ``curl -o`` of one 256 MiB file into tmpfs.

Besides the wall-clock times (medians over the rounds), the service's own CPU time per request is read from
``/proc/<pid>/stat`` around each run: it moves much less than wall-clock time when other jobs share the
machine.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from gobbler_sdk.testing import GobblerService

from .floors import CURL

_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its live children so far (``/proc``, fields 14 and 15).

    The embedded service's reader processes are its children.
    """
    with open(f"/proc/{pid}/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / _TICKS
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        children = [int(child) for child in handle.read().split()]
    return total + sum(process_cpu(child) for child in children)


def _populate(registry: Path, files: int, big_mib: int) -> list[str]:
    rng = random.Random(0)
    paths = []
    for index in range(files):
        rel = f"bench/small/v1/d{index % 20}/f{index}.txt"
        (registry / rel).parent.mkdir(parents=True, exist_ok=True)
        (registry / rel).write_bytes(rng.randbytes(rng.randint(1024, 4096)))
        paths.append(rel)
    big = registry / "bench/large/v1/big.bin"
    big.parent.mkdir(parents=True)
    with open(big, "wb") as handle:
        chunk = rng.randbytes(1 << 20)
        for _ in range(big_mib):
            handle.write(chunk)
    return paths


def _curl_small(url: str, paths: list[str], work: Path) -> None:
    out = work / "out"
    config = work / "curl.cfg"
    config.write_text("".join(f'url = "{url}/fetch/{p}"\noutput = "{out / p}"\n' for p in paths))
    assert CURL is not None
    subprocess.run(
        [
            CURL,
            "-s",
            "-S",
            "--no-progress-meter",
            "--fail",
            "--create-dirs",
            "--parallel",
            "--parallel-max",
            "16",
            "-K",
            str(config),
        ],
        check=True,
    )
    shutil.rmtree(out)


def _keepalive(url: str, paths: list[str]) -> None:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port))
    try:
        for path in paths:
            connection.request("GET", f"/fetch/{path}")
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: {response.status}")
    finally:
        connection.close()


def _curl_large(url: str, work: Path) -> None:
    target = work / "big.bin"
    assert CURL is not None
    subprocess.run(
        [CURL, "-s", "-S", "--fail", "-o", str(target), f"{url}/fetch/bench/large/v1/big.bin"], check=True
    )
    target.unlink()


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print one table; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--big-mib", type=int, default=256)
    parser.add_argument(
        "--before",
        metavar="DIR",
        help="also run the embedded service from the gobbler_sdk package under DIR (e.g. an older commit's "
        "`git archive`), as 'before'",
    )
    options = parser.parse_args(argv)
    if CURL is None:
        print("curl is not installed", file=sys.stderr)
        return 2
    base = Path("/dev/shm") if os.path.isdir("/dev/shm") else Path(tempfile.gettempdir())
    root = Path(tempfile.mkdtemp(prefix="gobbler-serving-", dir=base))
    try:
        registry, staging = root / "registry", root / "staging"
        registry.mkdir()
        staging.mkdir(mode=0o1777)
        os.chmod(staging, 0o1777)
        paths = _populate(registry, options.files, options.big_mib)
        services = {"embedded": GobblerService(staging, registry)}
        binary = os.environ.get("GOBBLER_BINARY")
        if binary:
            services["binary"] = GobblerService(staging, registry, binary=binary)
        if options.before:
            services["before"] = GobblerService(staging, registry)
        for name, service in services.items():
            here = os.getcwd()
            if name == "before":
                # ``python -m`` looks in the working directory first, then in PYTHONPATH: DIR for both.
                os.environ["PYTHONPATH"] = os.path.abspath(options.before)
                os.chdir(options.before)
            try:
                service.start()
            finally:
                os.environ.pop("PYTHONPATH", None)
                os.chdir(here)
        work = root / "work"
        work.mkdir()
        workloads: dict[str, tuple[Callable[[str], None], int]] = {
            "small (curl --parallel-max 16)": (lambda url: _curl_small(url, paths, work), len(paths)),
            "keepalive (one http.client connection)": (lambda url: _keepalive(url, paths), len(paths)),
            f"large ({options.big_mib} MiB, curl -o)": (lambda url: _curl_large(url, work), 1),
        }
        times: dict[tuple[str, str], list[float]] = {}
        cpu: dict[tuple[str, str], list[float]] = {}
        names = list(services)
        for round_number in range(options.rounds + 1):  # the first round warms up and is dropped
            for workload, (run, _) in workloads.items():
                order = names[round_number % len(names) :] + names[: round_number % len(names)]
                for name in order:
                    service = services[name]
                    assert service.process is not None
                    before_cpu, before = process_cpu(service.process.pid), time.perf_counter()
                    run(service.url)
                    elapsed = time.perf_counter() - before
                    used = process_cpu(service.process.pid) - before_cpu
                    if round_number:
                        times.setdefault((workload, name), []).append(elapsed)
                        cpu.setdefault((workload, name), []).append(used)
        print(f"\n{options.rounds} rounds; load average now {os.getloadavg()[0]:.1f}")
        print("| workload | service | median (s) | service CPU per request (µs) | vs binary |")
        print("|---|---|---|---|---|")
        for workload, (_, requests) in workloads.items():
            for name in names:
                median = statistics.median(times[(workload, name)])
                per_request = statistics.median(cpu[(workload, name)]) / requests * 1e6
                ratios = ""
                if "binary" in services:
                    pairs = zip(times[(workload, name)], times[(workload, "binary")], strict=True)
                    ratios = f"{statistics.median(a / b for a, b in pairs):.2f}x"
                print(f"| {workload} | {name} | {median:.3f} | {per_request:.0f} | {ratios} |")
        for service in services.values():
            service.stop(remove_directories=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
