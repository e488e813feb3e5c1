"""Dask on ``gobbler://``: a LocalCluster of two worker processes reads the registry itself.

One cluster serves the whole module (starting one costs seconds); it binds to loopback only and has no
dashboard. The filesystem reaches the workers pickled by its storage options, and each worker process
builds its own client from them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import dask
import dask.bag
import dask.dataframe as dd
import pandas as pd
import pytest
from distributed import Client, LocalCluster

from gobbler_sdk import GobblerFileSystem

from .conftest import MANY, PARTS, ROWS_PER_PART, Dataset


@pytest.fixture(scope="module")
def cluster() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            worker_dashboard_address="127.0.0.1:0",
        ) as running,
        Client(running) as client,
    ):
        yield client


def test_read_csv_over_a_glob_on_two_worker_processes(
    cluster: Client, options: dict[str, Any], dataset: Dataset
) -> None:
    frame = dd.read_csv(f"gobbler://{dataset.path('v1')}/part-*.csv", storage_options=options, blocksize=None)
    assert frame.npartitions == PARTS
    computed = frame.compute().reset_index(drop=True)
    assert len(computed) == PARTS * ROWS_PER_PART
    pd.testing.assert_frame_equal(computed, dataset.parts)
    # Two worker processes, neither of which is this one, did the reading.
    pids = cluster.run(os.getpid)
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()


def _md5_of(fs: GobblerFileSystem, path: str) -> tuple[str, str, int]:
    return path, hashlib.md5(fs.cat_file(path)).hexdigest(), os.getpid()


def test_bag_and_delayed_fetch_many_files_in_parallel(
    cluster: Client, options: dict[str, Any], dataset: Dataset
) -> None:
    fs = GobblerFileSystem(**options)
    paths = fs.glob(f"{dataset.path('v1')}/many/*.bin")
    assert len(paths) == MANY
    expected = {dataset.path("v1", p): hashlib.md5(c).hexdigest() for p, c in dataset.files["v1"].items()}
    bag = dask.bag.from_sequence(paths, npartitions=8).map(lambda path: _md5_of(fs, path))
    results = bag.compute()
    assert {path: digest for path, digest, _ in results} == {p: expected[p] for p in paths}
    assert len({pid for _, _, pid in results}) == 2  # spread over both workers
    delayed = [dask.delayed(_md5_of)(fs, path) for path in paths[:10]]
    assert [digest for _, digest, _ in dask.compute(*delayed)] == [expected[p] for p in paths[:10]]
