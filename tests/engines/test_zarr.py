"""Zarr v3 reads an array store uploaded to the registry through ``gobbler://``, natively (async).

The store's filesystem is gobbler-sdk's own ``AsyncFileSystem``, not fsspec's wrapper around a sync one;
remote reads are counted by a TCP proxy, so that a slice is seen to fetch only the chunks it covers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

zarr = pytest.importorskip("zarr", minversion="3")

from gobbler_sdk import GobblerClient, GobblerFileSystem  # noqa: E402
from gobbler_sdk.testing import GobblerService  # noqa: E402

from ..client.support import unique  # noqa: E402
from ..filesystem.support import CountingProxy  # noqa: E402

SHAPE = (400, 300)
CHUNKS = (100, 100)  # 4 x 3 chunks


@pytest.fixture(scope="module")
def store(service: GobblerService, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, np.ndarray]:
    """A project whose asset ``arrays`` has v1: ``cube.zarr`` (a group with an uncompressed chunked array)."""
    project = unique("zarr")
    service.request("create_project", {"project": project})
    source = tmp_path_factory.mktemp("zarr-src")
    values = np.arange(SHAPE[0] * SHAPE[1], dtype="int32").reshape(SHAPE)
    group = zarr.open_group(str(source / "cube.zarr"), mode="w", zarr_format=3)
    group.attrs["title"] = "counts"
    array = group.create_array("counts", shape=SHAPE, chunks=CHUNKS, dtype="int32", compressors=None)
    array[:] = values
    with GobblerClient(service.url, transport="remote", cache=tmp_path_factory.mktemp("c")) as client:
        client.project(project).asset("arrays").upload("v1", source)
    return project, values


@pytest.mark.parametrize("version", ["v1", "..latest"])
def test_open_group_reads_the_array(
    service: GobblerService, store: tuple[str, np.ndarray], transport: str, version: str, tmp_path: Path
) -> None:
    project, values = store
    options = {"service_url": service.url, "transport": transport, "cache": str(tmp_path / "cache")}
    group = zarr.open_group(
        f"gobbler://{project}/arrays/{version}/cube.zarr", storage_options=options, mode="r"
    )
    assert isinstance(group.store.fs, GobblerFileSystem)
    assert group.store.fs.async_impl and group.store.fs.asynchronous
    assert group.attrs["title"] == "counts"
    assert list(group.array_keys()) == ["counts"]
    counts = group["counts"]
    assert counts.shape == SHAPE
    np.testing.assert_array_equal(counts[:], values)
    np.testing.assert_array_equal(counts[150:160, 20:250], values[150:160, 20:250])
    direct = zarr.open_array(
        f"gobbler://{project}/arrays/{version}/cube.zarr/counts", storage_options=options, mode="r"
    )
    assert int(direct[399, 299]) == int(values[399, 299])


def test_a_slice_fetches_only_the_chunks_it_covers(
    service: GobblerService, store: tuple[str, np.ndarray], tmp_path: Path
) -> None:
    project, values = store
    with CountingProxy(service.url) as proxy:
        options = {"service_url": proxy.url, "transport": "remote", "cache": str(tmp_path / "cache")}
        array = zarr.open_array(
            f"gobbler://{project}/arrays/v1/cube.zarr/counts", storage_options=options, mode="r"
        )
        proxy.reset()
        # Rows 150-159 and columns 20-249: chunk row 1, chunk columns 0, 1 and 2.
        np.testing.assert_array_equal(array[150:160, 20:250], values[150:160, 20:250])
        chunks = sorted(path for path in proxy.requests if "/c/" in path)
    assert chunks == [f"/fetch/{project}/arrays/v1/cube.zarr/counts/c/1/{column}" for column in range(3)]
    chunk_bytes = CHUNKS[0] * CHUNKS[1] * 4
    assert proxy.sent < 3 * chunk_bytes + 64 * 1024  # three chunks and the answers' headers, not twelve


def test_the_store_is_read_only(
    service: GobblerService, store: tuple[str, np.ndarray], tmp_path: Path
) -> None:
    project, _ = store
    options = {"service_url": service.url, "cache": str(tmp_path / "cache")}
    with pytest.raises(Exception, match="read-only"):
        group = zarr.open_group(f"gobbler://{project}/arrays/v1/cube.zarr", storage_options=options, mode="a")
        group.create_array("more", shape=(2,), dtype="int8")
