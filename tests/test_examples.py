"""Every example runs end to end (against the embedded service, or GOBBLER_BINARY when set)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(name: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_example_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == [
        "async_app.py",
        "mirror_transport.py",
        "quickstart.py",
        "raw_protocol.py",
    ]


def test_async_app_example() -> None:
    out = run("async_app.py")
    assert "versions: {'versions': ['v1'], 'latest': 'v1'}" in out
    assert "GET /files/demo/counts/..latest/tables/counts.csv: 200 'place,count\\nnorth,12\\n'" in out
    assert "GET /files/demo/counts/v1/nope.csv: 404" in out


def test_mirror_transport_example() -> None:
    out = run("mirror_transport.py")
    assert "files: ['tables/counts.csv']" in out
    assert "counts: ['place,count', 'north,12']" in out
    assert "copied: ['counts.csv']" in out
    assert "reads served by the mirror: 5" in out


def test_quickstart_tour() -> None:
    out = run("quickstart.py")
    assert "uploaded Version('demo/counts/v1'): 4 entries, 86 bytes" in out
    assert "unchanged files became links: ['README.txt', 'latest.csv']" in out
    assert "local read" in out and "'west,2'" in out
    assert "rejected Version('demo/counts/v4-trial'): exists False" in out
    assert "spoofing without permission is refused: HTTP 403" in out
    assert "cloned v2 into Version('demo/counts/v5'): 22 new bytes" in out
    assert "csv files copied to a directory of mine: ['latest.csv', 'tables/counts.csv']" in out
    assert re.search(r"demo/counts/v2 +6 +1\.2 KiB  complete ", out)
    assert re.search(r"demo/raw/v1 +3 +16\.0 MiB  complete ", out)
    assert "offline read of a cached file: 'west,2'" in out
    assert "offline, uncached: NotCachedError" in out
    assert (
        "pruned: PruneReport(1 versions, 3 files, 16.0 MiB freed, 0 temporary files, 0 staging entries)"
        in out
    )
    assert out.rstrip().endswith("removed the project: exists False")


@pytest.mark.parametrize("name", ["raw_protocol.py"])
def test_raw_protocol_round_trip(name: str) -> None:
    out = run(name)
    assert '-> 200 {"status":"SUCCESS"}' in out
    listing = '["..manifest","..summary","hello.txt","sub/numbers.txt"]'
    assert f"GET /list?path=raw/greetings/v1&recursive=true -> {listing}" in out
    assert "GET /fetch/raw/greetings/v1/hello.txt -> 200 'hello world\\n'" in out
