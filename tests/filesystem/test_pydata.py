"""pandas, pyarrow and universal-pathlib on ``gobbler://`` URLs, through both transports.

The column read of a multi-row-group Parquet file is measured, not assumed: remotely by a counting TCP
proxy between the client and the service (the bytes the service sent), on the mounted registry by the
bytes this process read from files (``rchar`` of ``/proc/self/io``).
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from upath import UPath

from gobbler_sdk import GobblerFileSystem
from gobbler_sdk.testing import GobblerService

from .conftest import BIG_ROW_GROUPS, BIG_ROWS_PER_GROUP, Dataset
from .support import CountingProxy


def url(dataset: Dataset, version: str, relative: str) -> str:
    return f"gobbler://{dataset.path(version, relative)}"


def test_pandas_read_csv_and_parquet(options: dict[str, Any], dataset: Dataset) -> None:
    frame = pd.read_csv(url(dataset, "v1", "counts.csv"), storage_options=options)
    pd.testing.assert_frame_equal(frame, dataset.counts)
    table = pd.read_parquet(url(dataset, "v1", "table.parquet"), storage_options=options)
    pd.testing.assert_frame_equal(table, dataset.counts)
    latest = pd.read_csv(url(dataset, "..latest", "counts.csv"), storage_options=options)
    pd.testing.assert_frame_equal(latest, dataset.counts.head(10))


def _read_bytes_of_this_process() -> int:
    with open("/proc/self/io") as stats:
        return next(int(line.split()[1]) for line in stats if line.startswith("rchar:"))


def test_one_parquet_column_reads_a_small_fraction(
    options: dict[str, Any], service: GobblerService, dataset: Dataset, tmp_path: Path
) -> None:
    path = dataset.path("v1", "big.parquet")
    size = len(dataset.files["v1"]["big.parquet"])
    metadata = pq.ParquetFile(io.BytesIO(dataset.files["v1"]["big.parquet"])).metadata
    assert metadata.num_row_groups == BIG_ROW_GROUPS and size > 10 * 2**20
    expected = pq.read_table(io.BytesIO(dataset.files["v1"]["big.parquet"]), columns=["c07"])
    if options["transport"] == "remote":
        with CountingProxy(service.url) as proxy:
            fs = GobblerFileSystem(**{**options, "service_url": proxy.url}, skip_instance_cache=True)
            fs.info(path)  # the manifest and summary: not part of the file's bytes
            proxy.reset()
            table = pq.read_table(path, columns=["c07"], filesystem=fs)
            transferred = proxy.sent
    else:
        fs = GobblerFileSystem(**options, skip_instance_cache=True)
        fs.info(path)
        before = _read_bytes_of_this_process()
        table = pq.read_table(path, columns=["c07"], filesystem=fs)
        transferred = _read_bytes_of_this_process() - before
    assert table.equals(expected) and table.num_rows == BIG_ROW_GROUPS * BIG_ROWS_PER_GROUP
    column_bytes = sum(metadata.row_group(g).column(7).total_compressed_size for g in range(BIG_ROW_GROUPS))
    share = transferred / size
    print(f"{options['transport']}: {transferred} of {size} bytes ({share:.1%}); column {column_bytes}")
    assert column_bytes <= transferred < 0.2 * size


def test_upath_round_trips(options: dict[str, Any], dataset: Dataset) -> None:
    version = UPath(f"gobbler://{dataset.path('v1')}", **options)
    note = version / "nested" / "deeper" / "note.txt"
    assert note.exists() and note.is_file() and not note.is_dir()
    assert note.read_bytes() == dataset.files["v1"]["nested/deeper/note.txt"]
    assert note.read_text() == "hello from deep down\n"
    assert note.stat().st_size == len(dataset.files["v1"]["nested/deeper/note.txt"])
    assert sorted(child.name for child in (version / "nested").iterdir()) == ["deeper", "top.txt"]
    assert sorted(p.name for p in version.glob("part-*.csv")) == [f"part-{i:03d}.csv" for i in range(4)]
    assert (version / "nothing").is_dir() and not (version / "absent").exists()
    latest = UPath(f"gobbler://{dataset.path('..latest', 'nested/top.txt')}", **options)
    assert latest.read_text() == "top, second edition\n"
    with (version / "counts.csv").open("rb") as handle:
        pd.testing.assert_frame_equal(pd.read_csv(handle), dataset.counts)
    with pytest.raises(PermissionError):
        (version / "new.txt").write_text("no")


def test_universal_pathlib_knows_the_protocol() -> None:
    # In a fresh interpreter, warnings as errors: no fallback to upath's generic class or flavour.
    code = (
        "from upath import UPath; p = UPath('gobbler://p/a/v1/x.csv', service_url='http://127.0.0.1:9'); "
        "print(type(p).__name__, type(p.fs).__name__, p.parent.path)"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["GobblerPath", "GobblerFileSystem", "p/a/v1"]
