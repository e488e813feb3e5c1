"""A latency probe in a process of its own: timed reads against a service while something else loads it.

``python -m tests.benchmarks.probe URL FILE PREFIX SECONDS`` alternates ``GET /fetch/FILE`` and
``GET /list?prefix=PREFIX`` on one kept-alive ``http.client`` connection, 10 ms apart, until SECONDS have
passed, then prints ``{"fetch": [seconds, ...], "list": [...]}`` as JSON on stdout.

The soak's own clients are threads of the test process, whose interpreter lock their uploads keep busy:
their read latencies measure that process as much as the service. This process does nothing else, so its
latencies are the service's.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from urllib.parse import quote, urlsplit


def main(argv: list[str] | None = None) -> int:
    """Probe until the deadline; print the latencies."""
    url, path, prefix, seconds = sys.argv[1:] if argv is None else argv
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=60)
    targets = {
        "fetch": f"{parts.path}/fetch/{quote(path)}",
        "list": f"{parts.path}/list?prefix={quote(prefix)}",
    }
    latencies: dict[str, list[float]] = {name: [] for name in targets}
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        for name, target in targets.items():
            started = time.perf_counter()
            connection.request("GET", target)
            response = connection.getresponse()
            response.read()
            latencies[name].append(time.perf_counter() - started)
            if response.status != 200:
                print(f"{target} answered {response.status}", file=sys.stderr)
                return 1
            time.sleep(0.01)
    connection.close()
    json.dump(latencies, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
