"""``gobbler_sdk.polars``: lazy scans of ``gobbler://`` paths and globs, mounted and remote.

Bytes read remotely are counted by a TCP proxy between the client (and so polars, which reads the URLs the
client's service gives) and the service.
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from gobbler_sdk import GobblerClient, InvalidArgumentError
from gobbler_sdk import polars as gpl
from gobbler_sdk.engines import resolve
from gobbler_sdk.testing import GobblerService

from ..filesystem.support import CountingProxy
from .conftest import ROW_GROUPS, ROWS_PER_GROUP, Tables


def test_a_filter_reads_only_the_row_group_it_needs(
    service: GobblerService, tables: Tables, tmp_path: Path
) -> None:
    content = tables.files["v1"]["grouped.parquet"]
    metadata = pq.ParquetFile(io.BytesIO(content)).metadata
    assert metadata.num_row_groups == ROW_GROUPS
    group = [metadata.row_group(g).total_byte_size for g in range(ROW_GROUPS)]
    # Rows of the third row group only; its statistics exclude the three others.
    low, high = 2 * ROWS_PER_GROUP + 10, 2 * ROWS_PER_GROUP + 1000
    with (
        CountingProxy(service.url) as proxy,
        GobblerClient(proxy.url, transport="remote", cache=tmp_path / "cache") as client,
    ):
        frame = gpl.scan_parquet(tables.url("v1", "grouped.parquet"), client=client)
        proxy.reset()
        result = frame.filter(pl.col("id").is_between(low, high)).collect()
        transferred, requests = proxy.sent, list(proxy.requests)
    assert result["id"].to_list() == list(range(low, high + 1))
    assert result["value"].to_list() == tables.grouped["value"].to_pylist()[low : high + 1]
    footer = metadata.serialized_size + 8
    print(f"{transferred} of {len(content)} bytes in {len(requests)} requests; row groups {group}")
    assert all(r == "/fetch/" + tables.path("v1", "grouped.parquet") for r in requests)
    # More than the row group's bytes crossed, and less than two row groups' (the whole file is 4).
    assert group[2] <= transferred < group[2] + min(group) + footer + 8192


def test_a_projection_reads_only_its_columns(service: GobblerService, tables: Tables, tmp_path: Path) -> None:
    content = tables.files["v1"]["grouped.parquet"]
    metadata = pq.ParquetFile(io.BytesIO(content)).metadata
    column, skipped = (
        sum(metadata.row_group(g).column(c).total_compressed_size for g in range(ROW_GROUPS)) for c in (1, 0)
    )
    with (
        CountingProxy(service.url) as proxy,
        GobblerClient(proxy.url, transport="remote", cache=tmp_path / "cache") as client,
    ):
        frame = gpl.scan_parquet(tables.url("v1", "grouped.parquet"), client=client)
        proxy.reset()
        total = frame.select(pl.col("value").sum()).collect().item()
        transferred = proxy.sent
    assert total == pytest.approx(pc.sum(tables.grouped["value"]).as_py())
    print(f"{transferred} of {len(content)} bytes; the column is {column}, the id column {skipped}")
    # polars reads a generous tail of the file for the footer (up to 256 KiB) and may merge nearby
    # ranges; the id column, as large as the one asked for, stays behind.
    assert column <= transferred < column + 256 * 1024 + 16384
    assert transferred < column + skipped


def test_globs_and_latest_resolve_from_the_manifest(
    service: GobblerService, client: GobblerClient, tables: Tables
) -> None:
    frame = gpl.scan_parquet(tables.url("..latest", "parts/*.parquet"), client=client)
    assert frame.collect().to_arrow().equals(tables.parts["v2"].cast(frame.collect().to_arrow().schema))
    resolved = resolve(tables.url("..latest", "parts/part-[02].parquet"), client=client)
    assert resolved.names == (
        tables.path("v2", "parts/part-0.parquet"),
        tables.path("v2", "parts/part-2.parquet"),
    )
    if client.transport.kind == "local":
        assert resolved.mounted
        assert resolved.locations == tuple(str(client.local_path(name)) for name in resolved.names)
    else:
        assert not resolved.mounted
        assert resolved.locations == tuple(f"{service.url}/fetch/{name}" for name in resolved.names)
    counts = gpl.scan_csv(tables.url("v1", "counts.csv"), client=client).filter(pl.col("count") > 500)
    expected = tables.parts["v1"].filter(pc.greater(tables.parts["v1"]["count"], 500))
    assert counts.collect()["gene"].to_list() == expected["gene"].to_pylist()


def test_latest_is_read_once_per_call_and_mounted_reads_send_no_fetch(
    service: GobblerService, transport: str, tables: Tables, tmp_path: Path
) -> None:
    with (
        CountingProxy(service.url) as proxy,
        GobblerClient(proxy.url, transport=transport, cache=tmp_path / "cache") as client,  # type: ignore[arg-type]
    ):
        client.service_info()  # the mounted client discovers the registry first
        proxy.reset()
        paths = [tables.url("..latest", "parts/*.parquet"), tables.url("..latest", "counts.csv")]
        names = resolve(paths, client=client).names
        frame = gpl.scan_parquet(paths[0], client=client).collect()
        requests = list(proxy.requests)
    assert names == (
        *(tables.path("v2", f"parts/part-{i}.parquet") for i in range(3)),
        tables.path("v2", "counts.csv"),
    )
    assert frame.height == tables.parts["v2"].num_rows
    latest = [r for r in requests if r.endswith("/..latest")]
    fetches = [
        r
        for r in requests
        if r.startswith("/fetch/") and not r.startswith("/fetch/" + tables.project + "/tables/..")
    ]
    if transport == "local":
        assert requests == []
    else:
        assert len(latest) == 2  # one per call (resolve, then scan_parquet), for both paths of a call
        assert all(f.startswith("/fetch/" + tables.path("v2", "")) for f in fetches)


def test_bad_paths_are_refused_before_anything_is_read(client: GobblerClient, tables: Tables) -> None:
    with pytest.raises(InvalidArgumentError, match="not a gobbler"):
        gpl.scan_parquet("s3://bucket/key.parquet", client=client)
    with pytest.raises(InvalidArgumentError, match="names no file"):
        gpl.scan_parquet(f"gobbler://{tables.project}/tables/v1", client=client)
    with pytest.raises(InvalidArgumentError, match="only inside a version"):
        gpl.scan_parquet(f"gobbler://{tables.project}/tables/v*/parts/*.parquet", client=client)
    with pytest.raises(FileNotFoundError, match="matches no file"):
        gpl.scan_parquet(tables.url("v1", "parts/*.csv"), client=client)
    with pytest.raises(FileNotFoundError):
        gpl.scan_csv(tables.url("v9", "counts.csv"), client=client)
    with pytest.raises(IsADirectoryError):
        gpl.scan_parquet(tables.url("v1", "parts"), client=client)
    with pytest.raises(TypeError, match="glob"):
        gpl.scan_parquet(tables.url("v1", "parts/*.parquet"), client=client, glob=True)


def test_a_deduplicated_link_reads_as_its_target(client: GobblerClient, tables: Tables) -> None:
    # v2's grouped.parquet is the same as v1's, so the upload made it a link to v1's file.
    version = client.project(tables.project).asset("tables").version("v2")
    assert version.manifest()["grouped.parquet"].link is not None
    frame = gpl.scan_parquet(tables.url("v2", "grouped.parquet"), client=client)
    assert frame.select(pl.len(), pl.col("id").max()).collect().row(0) == (
        ROW_GROUPS * ROWS_PER_GROUP,
        ROW_GROUPS * ROWS_PER_GROUP - 1,
    )
