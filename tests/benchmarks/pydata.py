"""Workload h: the ``gobbler://`` fsspec filesystem against the SDK's own reads, curl and local files.

Four comparisons measured side by side in the same rounds, all remote (``transport="remote"``):

- ``i-read``: a whole file through ``fs.open(path).read()`` (one ranged GET into memory, MD5 verified)
  against ``Version.fetch`` (a verified download into an empty cache);
- ``i-range``: 1 MiB from the middle of the large file through ``fs.cat_file(path, start, end)`` against
  ``curl -r``; the bytes that crossed the socket are counted once, untimed, through a TCP proxy;
- ``i-find``: ``fs.find`` over a version of many files on a fresh filesystem against ``Version.manifest``
  on a fresh client (both read the summary and the manifest, one request each);
- ``i-csv``: ``pandas.read_csv`` of a large CSV over ``gobbler://`` against the same file on local disk.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

import pandas as pd

from gobbler_sdk import GobblerFileSystem
from gobbler_sdk._http import fetch_url

from ..filesystem.support import CountingProxy
from .base import Row, Times, Workload, at_most, median, per_round, timed
from .floors import CURL, FloorError
from .settings import MIB, Sizes
from .workspace import PROJECT, Workspace, big_file, small_tree


def _csv_bytes(size: int) -> bytes:
    """A numeric CSV of about ``size`` bytes (ids, floats, short labels)."""
    rows = max(size // 48, 10)
    frame = pd.DataFrame(
        {
            "id": range(rows),
            "x": [i * 0.731 % 97.3 for i in range(rows)],
            "y": [i * 1.618 % 13.7 for i in range(rows)],
            "label": [f"g{i % 1000:04d}" for i in range(rows)],
        }
    )
    return frame.to_csv(index=False).encode()


class FsspecReads(Workload):
    """Workload h: reads through ``GobblerFileSystem`` beside their natural baselines."""

    key = "i"

    def __init__(self, workspace: Workspace, sizes: Sizes) -> None:
        super().__init__()
        self.workspace = workspace
        self.big = sizes.fs_big_bytes
        self.range = min(MIB, self.big // 4)
        self.files = sizes.fs_find_files
        self.csv = sizes.fs_csv_bytes
        self.title = "gobbler:// filesystem"
        self.contenders = [
            "fetch",
            "fs-read",
            "curl-range",
            "fs-range",
            "manifest",
            "find",
            "csv-local",
            "csv-fs",
        ]
        if CURL is None:
            self.contenders.remove("curl-range")
        self.big_path = f"{PROJECT}/fs-big/v1/big.bin"
        self.csv_path = f"{PROJECT}/fs-csv/v1/table.csv"
        self.local_csv = workspace.data / "fs-table.csv"
        self.csv_rows = 0
        self.counted: dict[str, int] = {}

    def _fs(self, url: str | None = None) -> GobblerFileSystem:
        endpoint = self.workspace.primary
        return GobblerFileSystem(
            url or endpoint.url,
            transport="remote",
            cache=str(self.workspace.scratch("i-fs")),
            skip_instance_cache=True,
        )

    def setup(self) -> None:
        """Upload the large file, the wide version and the CSV; count the ranged read's bytes once."""
        admin = self.workspace.primary.admin.project(PROJECT)
        source = self.workspace.data / "fs-big"
        big_file(source / "big.bin", self.big)
        admin.asset("fs-big").upload("v1", source)
        shutil.rmtree(source)
        source = self.workspace.data / "fs-wide"
        source.mkdir()
        small_tree(source, self.files, seed=13, low=16, high=64)
        admin.asset("fs-wide").upload("v1", source)
        shutil.rmtree(source)
        data = _csv_bytes(self.csv)
        self.local_csv.write_bytes(data)
        self.csv_rows = len(pd.read_csv(io.BytesIO(data)))
        source = self.workspace.data / "fs-csv"
        source.mkdir()
        (source / "table.csv").write_bytes(data)
        admin.asset("fs-csv").upload("v1", source)
        shutil.rmtree(source)
        self.fs = self._fs()
        self.fs.info(self.big_path)  # the manifest is read once, outside the timings
        with CountingProxy(self.workspace.primary.url) as proxy:
            counted = self._fs(proxy.url)
            counted.info(self.big_path)
            proxy.reset()
            counted.cat_file(self.big_path, self._start, self._start + self.range)
            self.counted["fs-range"] = proxy.sent
        if CURL is not None:
            self.counted["curl-range"] = self._curl_range()[1]

    @property
    def _start(self) -> int:
        return self.big // 2 - self.range // 2

    def _curl_range(self) -> tuple[bytes, int]:
        assert CURL is not None
        url = self.workspace.primary.url + fetch_url(self.big_path)
        result = subprocess.run(
            [
                CURL,
                "--silent",
                "--show-error",
                "--fail",
                "-r",
                f"{self._start}-{self._start + self.range - 1}",
                "-o",
                "/dev/stdout",
                "-w",
                "\n%{size_download} %{size_header}",
                url,
            ],
            capture_output=True,
            check=True,
        )
        body, _, counts = result.stdout.rpartition(b"\n")
        downloaded, header = (int(x) for x in counts.split())
        return body, downloaded + header

    def measure(self, contender: str, round_index: int) -> float:
        """Run one contender once; check what it returned."""
        endpoint = self.workspace.primary
        results: list[Any] = []
        if contender == "fetch":
            work = self.workspace.scratch("i-fetch")
            client = endpoint.client(work, transport="remote")
            try:
                version = client.project(PROJECT).asset("fs-big").version("v1")
                seconds = timed(lambda: results.append(version.fetch("big.bin").stat().st_size))
            finally:
                client.close()
                shutil.rmtree(work, ignore_errors=True)
            expected: Any = self.big
        elif contender == "fs-read":

            def read() -> None:
                with self.fs.open(self.big_path, "rb") as handle:
                    results.append(len(handle.read()))

            seconds = timed(read)
            expected = self.big
        elif contender == "curl-range":
            seconds = timed(lambda: results.append(len(self._curl_range()[0])))
            expected = self.range
        elif contender == "fs-range":
            start = self._start
            seconds = timed(
                lambda: results.append(len(self.fs.cat_file(self.big_path, start, start + self.range)))
            )
            expected = self.range
        elif contender == "manifest":
            work = self.workspace.scratch("i-manifest")
            client = endpoint.client(work, transport="remote")
            try:
                version = client.project(PROJECT).asset("fs-wide").version("v1")
                seconds = timed(lambda: results.append(len(version.manifest())))
            finally:
                client.close()
                shutil.rmtree(work, ignore_errors=True)
            expected = self.files
        elif contender == "find":
            fs = self._fs()
            seconds = timed(lambda: results.append(len(fs.find(f"{PROJECT}/fs-wide/v1"))))
            fs.client.close()
            expected = self.files
        elif contender == "csv-local":
            seconds = timed(lambda: results.append(len(pd.read_csv(self.local_csv))))
            expected = self.csv_rows
        else:
            options = {
                "service_url": endpoint.url,
                "transport": "remote",
                "cache": str(self.workspace.scratch("i-csv")),
            }
            url = f"gobbler://{self.csv_path}"
            seconds = timed(lambda: results.append(len(pd.read_csv(url, storage_options=options))))
            expected = self.csv_rows
        if results != [expected]:
            raise FloorError(f"{contender} returned {results} instead of {expected}")
        return seconds

    def teardown(self) -> None:
        """Close the kept filesystem's client."""
        fs = getattr(self, "fs", None)
        if fs is not None:
            fs.client.close()

    def rows(self, rounds: Sequence[Times]) -> list[Row]:
        """Four rows, each a ratio of two contenders measured in the same rounds."""

        def row(
            key: str, title: str, sdk: str, floor: str, limit: float | None, floor_label: str, **kw: Any
        ) -> Row:
            sdk_ratio = per_round(rounds, lambda t: t.get(sdk), lambda t: t.get(floor))
            if limit is None:
                measured, met, verdict = (f"{sdk_ratio:.2f}x" if sdk_ratio else "n/a"), None, "no target"
                target = "(reported)"
            else:
                measured, met, verdict = at_most(sdk_ratio, limit, "x")
                target = f"<= {limit}x"
            return Row(
                key=key,
                title=title,
                floor=median([t.get(floor) for t in rounds]),
                sdk=median([t.get(sdk) for t in rounds]),
                pyg=None,
                sdk_ratio=sdk_ratio,
                pyg_ratio=None,
                target=target,
                measured=measured,
                met=met,
                verdict=verdict,
                floor_label=floor_label,
                pyg_label="n/a (no pygobbler equivalent)",
                **kw,
            )

        big = f"{self.big >> 20} MiB"
        fs_bytes, curl_bytes = self.counted.get("fs-range"), self.counted.get("curl-range")
        return [
            row(
                "i-read",
                f"fs.open().read() of one {big} file vs Version.fetch",
                "fs-read",
                "fetch",
                1.2,
                "Version.fetch into an empty cache (verified)",
                notes=["fs.open().read() is one ranged GET into memory, MD5-verified"],
            ),
            row(
                "i-range",
                f"1 MiB ranged read from the {big} file: fs.cat_file vs curl -r",
                "fs-range",
                "curl-range",
                None,
                "curl -r (a new process and connection each time)",
                notes=[
                    f"bytes received: fs.cat_file {fs_bytes} (counted by a TCP proxy), "
                    f"curl -r {curl_bytes} (its size_download + size_header); the file is {self.big}"
                ],
            ),
            row(
                "i-find",
                f"fs.find over a {self.files:,}-file version vs Version.manifest",
                "find",
                "manifest",
                1.5,
                "Version.manifest() on a fresh client (summary + manifest requests, parsed)",
            ),
            row(
                "i-csv",
                f"pandas.read_csv of a {self.csv >> 20} MiB CSV over gobbler:// vs a local path",
                "csv-fs",
                "csv-local",
                None,
                "pandas.read_csv(local path)",
            ),
        ]
