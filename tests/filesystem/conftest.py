"""Fixtures for the ``gobbler://`` filesystem tests.

- ``service`` (session): the Gobbler service (embedded, or ``GOBBLER_BINARY``).
- ``dataset`` (session): one project with an asset ``data`` holding ``v1`` (CSV, Parquet, a multi-row-group
  Parquet file of several MB, CSV parts, many small files, nested and empty directories), ``v2`` (its
  latest version) and a probational ``v3``; :class:`Dataset` says what each file holds.
- ``fs``: a :class:`GobblerFileSystem` on ``service``, parametrised over the ``local`` (mounted registry)
  and ``remote`` transports; ``options`` are the storage options it was made with.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gobbler_sdk import GobblerClient, GobblerFileSystem
from gobbler_sdk.testing import GobblerService

from ..client.support import me, unique
from ..conftest import GOBBLER_BINARY

PARTS = 4
ROWS_PER_PART = 250
MANY = 40
BIG_COLUMNS = 24
BIG_ROW_GROUPS = 4
BIG_ROWS_PER_GROUP = 16384


@dataclass
class Dataset:
    """What was uploaded: ``files[version][relative path] = bytes``."""

    project: str
    asset: str = "data"
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)
    empty_dirs: tuple[str, ...] = ("nothing",)
    counts: pd.DataFrame | None = None
    parts: pd.DataFrame | None = None

    def path(self, version: str, relative: str = "") -> str:
        base = f"{self.project}/{self.asset}/{version}"
        return f"{base}/{relative}" if relative else base


def _parquet(table: pa.Table, **options: Any) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **options)
    return sink.getvalue()


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _upload(
    client: GobblerClient, dataset: Dataset, version: str, root: Path, probation: bool = False
) -> None:
    for relative, content in dataset.files[version].items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    for relative in dataset.empty_dirs:
        (root / relative).mkdir(parents=True, exist_ok=True)
    client.project(dataset.project).asset(dataset.asset).upload(version, root, probation=probation)


@pytest.fixture(scope="session")
def service() -> Iterator[GobblerService]:
    with GobblerService(admin=[me()], binary=GOBBLER_BINARY) as running:
        yield running


@pytest.fixture(scope="session")
def dataset(service: GobblerService, tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    rng = np.random.default_rng(11)
    project = unique("fs")
    service.request("create_project", {"project": project})
    data = Dataset(project)
    counts = pd.DataFrame({"gene": [f"g{i}" for i in range(50)], "count": rng.integers(0, 1000, 50)})
    parts = pd.DataFrame(
        {"id": np.arange(PARTS * ROWS_PER_PART), "value": rng.normal(size=PARTS * ROWS_PER_PART).round(6)}
    )
    big = pa.table({f"c{i:02d}": rng.random(BIG_ROW_GROUPS * BIG_ROWS_PER_GROUP) for i in range(BIG_COLUMNS)})
    v1: dict[str, bytes] = {
        "counts.csv": _csv(counts),
        "table.parquet": _parquet(pa.Table.from_pandas(counts, preserve_index=False)),
        "big.parquet": _parquet(big, row_group_size=BIG_ROWS_PER_GROUP, compression="none"),
        "nested/deeper/note.txt": b"hello from deep down\n",
        "nested/top.txt": b"top\n",
    }
    for index in range(PARTS):
        chunk = parts.iloc[index * ROWS_PER_PART : (index + 1) * ROWS_PER_PART]
        v1[f"part-{index:03d}.csv"] = _csv(chunk)
    for index in range(MANY):
        v1[f"many/file-{index:03d}.bin"] = rng.bytes(1000 + 37 * index)
    data.files["v1"] = v1
    data.files["v2"] = {"counts.csv": _csv(counts.head(10)), "nested/top.txt": b"top, second edition\n"}
    data.files["v3"] = {"counts.csv": b"gene,count\nprobational,1\n"}
    data.counts = counts
    data.parts = parts
    with GobblerClient(
        service.url, transport="remote", cache=tmp_path_factory.mktemp("upload-cache")
    ) as client:
        for version in ("v1", "v2"):
            _upload(client, data, version, tmp_path_factory.mktemp(f"src-{version}"))
        _upload(client, data, "v3", tmp_path_factory.mktemp("src-v3"), probation=True)
    return data


@pytest.fixture(params=["local", "remote"])
def options(
    request: pytest.FixtureRequest, service: GobblerService, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    return {
        "service_url": service.url,
        "transport": request.param,
        "cache": str(tmp_path_factory.getbasetemp() / f"cache-{request.param}"),
    }


@pytest.fixture
def fs(options: dict[str, Any]) -> GobblerFileSystem:
    return GobblerFileSystem(**options)
