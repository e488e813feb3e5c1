"""Fixtures for the engine tests (polars, DuckDB, Hugging Face ``datasets`` on ``gobbler://``).

- ``service`` (session): the Gobbler service (embedded, or ``GOBBLER_BINARY``).
- ``tables`` (session): one project with an asset ``tables``: ``v1`` (a 4-row-group Parquet file, three
  Parquet parts, a CSV) and ``v2`` (its latest version: the same parts with some counts changed);
  :class:`Tables` says what each file holds.
- ``transport``: ``"local"`` (the mounted registry) and ``"remote"``; ``client`` is a client on ``service``
  through it.
- ``hf_home`` (session): Hugging Face's home and caches in the session's temporary directory, set before
  ``datasets`` is first imported (it reads them once, at import).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gobbler_sdk import GobblerClient
from gobbler_sdk.testing import GobblerService

from ..client.support import me, unique
from ..conftest import GOBBLER_BINARY

ROW_GROUPS = 4
ROWS_PER_GROUP = 20_000
PARTS = 3
GENES_PER_PART = 40


@dataclass
class Tables:
    """What was uploaded: ``files[version][relative path] = bytes``, and the tables behind them."""

    project: str
    asset: str = "tables"
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)
    grouped: pa.Table | None = None
    parts: dict[str, pa.Table] = field(default_factory=dict)

    def path(self, version: str, relative: str) -> str:
        return f"{self.project}/{self.asset}/{version}/{relative}"

    def url(self, version: str, relative: str) -> str:
        return "gobbler://" + self.path(version, relative)


def parquet_bytes(table: pa.Table, **options: object) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **options)
    return sink.getvalue()


def _parts(version: str, rng: np.random.Generator) -> pa.Table:
    genes = [f"g{i:03d}" for i in range(PARTS * GENES_PER_PART)]
    counts = rng.integers(0, 1000, len(genes))
    if version == "v2":
        counts[::7] += 1  # every seventh gene changes between the versions
    return pa.table({"gene": genes, "count": counts})


@pytest.fixture(scope="session")
def service() -> Iterator[GobblerService]:
    with GobblerService(admin=[me()], binary=GOBBLER_BINARY) as running:
        yield running


def upload_tables(
    service: GobblerService, tmp_path_factory: pytest.TempPathFactory, project: str, asset: str = "tables"
) -> Tables:
    """Create ``project`` and upload ``v1`` and ``v2`` of ``asset`` (see the module's docstring)."""
    rng = np.random.default_rng(23)
    data = Tables(project, asset)
    service.request("create_project", {"project": data.project})
    rows = ROW_GROUPS * ROWS_PER_GROUP
    data.grouped = pa.table(
        {"id": np.arange(rows), "value": rng.random(rows), "label": [f"r{i % 97}" for i in range(rows)]}
    )
    base = parquet_bytes(data.grouped, row_group_size=ROWS_PER_GROUP, compression="none")
    cache = tmp_path_factory.mktemp("up-cache")
    with GobblerClient(service.url, transport="remote", cache=cache) as client:
        for version in ("v1", "v2"):
            table = _parts(version, np.random.default_rng(5))
            data.parts[version] = table
            files = {"grouped.parquet": base, "counts.csv": table.to_pandas().to_csv(index=False).encode()}
            for index in range(PARTS):
                chunk = table.slice(index * GENES_PER_PART, GENES_PER_PART)
                files[f"parts/part-{index}.parquet"] = parquet_bytes(chunk)
            data.files[version] = files
            source = tmp_path_factory.mktemp(f"src-{version}")
            for relative, content in files.items():
                (source / relative).parent.mkdir(parents=True, exist_ok=True)
                (source / relative).write_bytes(content)
            client.project(data.project).asset(data.asset).upload(version, source)
    return data


@pytest.fixture(scope="session")
def tables(service: GobblerService, tmp_path_factory: pytest.TempPathFactory) -> Tables:
    return upload_tables(service, tmp_path_factory, unique("engines"))


@pytest.fixture(params=["local", "remote"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(service: GobblerService, transport: str, tmp_path: Path) -> Iterator[GobblerClient]:
    with GobblerClient(service.url, transport=transport, cache=tmp_path / "cache") as made:  # type: ignore[arg-type]
        yield made


@pytest.fixture(scope="session")
def hf_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("hf-home")
    names = ("HF_HOME", "HF_DATASETS_CACHE", "HF_HUB_DISABLE_TELEMETRY", "HF_HUB_DISABLE_PROGRESS_BARS")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(
        HF_HOME=str(home),
        HF_DATASETS_CACHE=str(home / "datasets"),
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
    )
    import datasets  # noqa: F401  # read the variables now, before any other test imports it

    yield home
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
