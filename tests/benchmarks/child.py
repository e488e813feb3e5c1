"""One operation in a fresh interpreter, so its peak memory can be read from the parent (workload g).

Usage: ``python -m tests.benchmarks.child measure MODE JSON-ARGUMENTS`` prints ``{"seconds": ..., "peak_kib":
...}``. It runs the operation in a grandchild (``run`` instead of ``measure``) and reads the grandchild's peak
from ``getrusage(RUSAGE_CHILDREN)``. The extra level matters: Linux carries a process's pre-``exec`` peak over
into its ``ru_maxrss``, and the pre-``exec`` image of a child of the benchmark is a copy of the benchmark
itself; this small stdlib-only process is a harmless parent to copy instead. The ``baseline`` modes only
import the client library and make one request, which is what the other modes cost before their operation
starts.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from typing import Any


def run(mode: str, args: dict[str, Any]) -> None:
    """Perform ``mode`` with ``args`` (url, staging, registry, cache, path, directory...)."""
    if mode.startswith("sdk-"):
        from gobbler_sdk import GobblerClient

        client = GobblerClient(
            args["url"], staging=args["staging"], registry=args["registry"], cache=args["cache"]
        )
        client.service_info()
        if mode == "sdk-fetch":
            client.fetch_file(args["path"], force_remote=True)
        elif mode == "sdk-fetch-directory":
            client.fetch_directory(args["directory"], force_remote=True)
        elif mode == "sdk-upload":
            client.project(args["project"]).asset(args["asset"]).upload("v1", args["source"])
        client.close()
    else:
        import pygobbler  # type: ignore[import-untyped]

        pygobbler.service_info(args["url"])
        if mode == "pyg-fetch":
            pygobbler.fetch_file(
                args["path"], args["registry"], args["url"], cache=args["cache"], force_remote=True
            )
        elif mode == "pyg-upload":
            pygobbler.upload_directory(
                args["project"], args["asset"], "v1", args["source"], staging=args["staging"], url=args["url"]
            )


def measure(mode: str, raw: str) -> None:
    """Run ``mode`` in a grandchild; print its duration and peak RSS (KiB)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tests.benchmarks.child", "run", mode, raw], check=True)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_kib": peak}))


def main() -> None:
    """Entry point: ``measure MODE ARGS`` or ``run MODE ARGS``."""
    command, mode, raw = sys.argv[1:4]
    if command == "measure":
        measure(mode, raw)
    else:
        run(mode, json.loads(raw))


if __name__ == "__main__":
    main()
