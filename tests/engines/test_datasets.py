"""Hugging Face ``datasets`` on ``gobbler://`` through the fsspec filesystem, mounted and remote.

``datasets`` needs no adapter: ``load_dataset(builder, data_files="gobbler://...", storage_options=...)``
resolves the files through :class:`~gobbler_sdk.GobblerFileSystem`. Hugging Face's home and caches are in
the test's temporary directories, and nothing is asked of the Hugging Face Hub (the builders are packaged).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gobbler_sdk.testing import GobblerService

from .conftest import Tables

Load = Callable[..., Any]


@pytest.fixture
def load(hf_home: Path, service: GobblerService, transport: str, tmp_path: Path) -> Load:
    """``datasets.load_dataset`` with the ``gobbler://`` options of this transport, cached in tmp_path."""
    import datasets

    assert Path(datasets.config.HF_DATASETS_CACHE).is_relative_to(hf_home)
    options = {"service_url": service.url, "transport": transport, "cache": str(tmp_path / "gobbler-cache")}

    def run(builder: str, data_files: Any, **kwargs: Any) -> Any:
        return datasets.load_dataset(
            builder, data_files=data_files, storage_options=options, cache_dir=str(tmp_path / "hf"), **kwargs
        )

    return run


def test_parquet_from_a_glob_and_csv_from_latest(load: Load, tables: Tables) -> None:
    loaded = load("parquet", tables.url("v1", "parts/*.parquet"))
    assert list(loaded) == ["train"]
    assert loaded["train"].to_dict() == tables.parts["v1"].to_pydict()
    csv = load("csv", {"test": tables.url("..latest", "counts.csv")})
    assert csv["test"].to_dict() == tables.parts["v2"].to_pydict()


def test_streaming_reads_without_a_download(load: Load, tables: Tables, tmp_path: Path) -> None:
    import datasets

    streamed = load("parquet", tables.url("..latest", "parts/*.parquet"), streaming=True)["train"]
    assert isinstance(streamed, datasets.IterableDataset)
    assert [row["count"] for row in streamed] == tables.parts["v2"]["count"].to_pylist()
    rows = load("csv", tables.url("v1", "counts.csv"), streaming=True)["train"]
    assert list(rows.take(3)) == tables.parts["v1"].slice(0, 3).to_pylist()
    # Streaming downloads nothing: no file of the registry was copied into Hugging Face's caches.
    assert [p.name for p in tmp_path.rglob("*") if p.suffix in (".parquet", ".csv")] == []


def test_missing_files_fail_as_local_ones_do(load: Load, tables: Tables, tmp_path: Path) -> None:
    import datasets

    def failure(run: Load, data_files: str) -> type[BaseException]:
        with pytest.raises((FileNotFoundError, ValueError)) as caught:
            run("parquet", data_files)
        return caught.type

    def local(builder: str, data_files: str) -> Any:
        return datasets.load_dataset(builder, data_files=data_files, cache_dir=str(tmp_path / "local"))

    # datasets reports a glob that matches nothing as a ValueError, a missing file as FileNotFoundError.
    for relative, expected in [("absent/*.parquet", ValueError), ("absent.parquet", FileNotFoundError)]:
        assert failure(load, tables.url("v1", relative)) is expected
        assert failure(local, str(tmp_path / relative)) is expected
