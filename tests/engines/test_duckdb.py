"""``gobbler_sdk.duckdb``: ``gobbler://`` paths and globs in DuckDB SQL, mounted and remote, offline.

Bytes read remotely are counted by a TCP proxy between the client and the service; on the mounted registry
the proxy must see no ``/fetch/`` request at all.
"""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from gobbler_sdk import GobblerClient
from gobbler_sdk import duckdb as gdb
from gobbler_sdk.testing import GobblerService

from ..filesystem.support import CountingProxy
from .conftest import PARTS, ROW_GROUPS, ROWS_PER_GROUP, Tables

JOIN = """
    SELECT old.gene, old.count AS before, new.count AS after
    FROM '{old}' AS old JOIN '{new}' AS new USING (gene)
    WHERE old.count <> new.count ORDER BY gene
"""


def read_bytes_of_this_process() -> int:
    with open("/proc/self/io") as stats:
        return next(int(line.split()[1]) for line in stats if line.startswith("rchar:"))


def changed(tables: Tables) -> list[tuple[str, int, int]]:
    old, new = (tables.parts[v].to_pylist() for v in ("v1", "v2"))
    pairs = zip(old, new, strict=True)
    return [(a["gene"], a["count"], b["count"]) for a, b in pairs if a["count"] != b["count"]]


def test_a_join_across_two_versions(client: GobblerClient, tables: Tables) -> None:
    expected = changed(tables)
    assert len(expected) == -(-PARTS * 40 // 7)  # every seventh gene changed
    with gdb.connect(client=client) as con:
        query = JOIN.format(
            old=tables.url("v1", "parts/*.parquet"), new=tables.url("..latest", "parts/*.parquet")
        )
        assert con.sql(query).fetchall() == expected
        counts = con.sql(f"SELECT count(*), sum(count) FROM read_csv('{tables.url('v1', 'counts.csv')}')")
        assert counts.fetchall() == [(PARTS * 40, sum(tables.parts["v1"]["count"].to_pylist()))]
        # The same join over the paths files() spells for this client (local files when mounted).
        old, new = (gdb.files(tables.url(v, "parts/*.parquet"), client=client) for v in ("v1", "v2"))
        mounted = client.transport.kind == "local"
        assert all(p.startswith("/" if mounted else "gobbler://") for p in old + new)
        spelt = JOIN.replace("'{old}'", "read_parquet($old)").replace("'{new}'", "read_parquet($new)")
        assert con.execute(spelt, {"old": old, "new": new}).fetchall() == expected


@pytest.mark.parametrize("how", ["filesystem", "files"])
def test_count_star_reads_only_the_footers(
    service: GobblerService, tables: Tables, tmp_path: Path, how: str
) -> None:
    content = tables.files["v1"]["grouped.parquet"]
    footer = pq.ParquetFile(io.BytesIO(content)).metadata.serialized_size + 8
    with (
        CountingProxy(service.url) as proxy,
        GobblerClient(proxy.url, transport="remote", cache=tmp_path / "cache") as client,
        gdb.connect(client=client) as con,
    ):
        url = tables.url("v1", "grouped.parquet")
        files = gdb.files(url, client=client)  # the manifest, read (and kept) first
        paths = files if how == "files" else [url]
        proxy.reset()
        rows = con.execute("SELECT count(*) FROM read_parquet($paths)", {"paths": paths}).fetchall()
        transferred, requests = proxy.sent, list(proxy.requests)
    assert rows == [(ROW_GROUPS * ROWS_PER_GROUP,)]
    print(f"{transferred} of {len(content)} bytes in {len(requests)} requests; the footer is {footer}")
    assert requests and all(r == "/fetch/" + tables.path("v1", "grouped.parquet") for r in requests)
    # DuckDB reads a tail of the file for the footer (16 KiB here), not one row group's worth of pages.
    group = pq.ParquetFile(io.BytesIO(content)).metadata.row_group(ROW_GROUPS - 1).total_byte_size
    assert footer <= transferred < 32 * 1024 < group / 10


def test_the_mounted_registry_is_read_without_http(
    service: GobblerService, tables: Tables, tmp_path: Path
) -> None:
    with (
        CountingProxy(service.url) as proxy,
        GobblerClient(proxy.url, transport="local", cache=tmp_path / "cache") as client,
        gdb.connect(client=client) as con,
    ):
        client.service_info()  # the registry's location is asked once
        proxy.reset()
        query = JOIN.format(
            old=tables.url("v1", "parts/*.parquet"), new=tables.url("..latest", "parts/*.parquet")
        )
        assert con.sql(query).fetchall() == changed(tables)
        files = gdb.files(tables.url("v1", "grouped.parquet"), client=client)
        assert files == [str(client.local_path(tables.path("v1", "grouped.parquet")))]
        assert con.execute("SELECT max(id) FROM read_parquet($f)", {"f": files}).fetchall() == [
            (ROW_GROUPS * ROWS_PER_GROUP - 1,)
        ]
        # COUNT(*) through the filesystem: preads of the registry file, its footer's worth.
        url = tables.url("v1", "grouped.parquet")
        con.sql(f"SELECT count(*) FROM '{tables.url('v2', 'counts.csv')}'").fetchall()  # warm up DuckDB
        before = read_bytes_of_this_process()
        assert con.sql(f"SELECT count(*) FROM '{url}'").fetchall() == [(ROW_GROUPS * ROWS_PER_GROUP,)]
        transferred = read_bytes_of_this_process() - before
        assert proxy.requests == []
    content = tables.files["v1"]["grouped.parquet"]
    footer = pq.ParquetFile(io.BytesIO(content)).metadata.serialized_size + 8
    group = pq.ParquetFile(io.BytesIO(content)).metadata.row_group(0).total_byte_size
    print(f"mounted COUNT(*): {transferred} bytes read by this process; the footer is {footer}")
    # DuckDB's tail reads (16 KiB each) and little else: far from a row group's pages.
    assert footer <= transferred < 64 * 1024 < group / 5


def test_extensions_are_never_downloaded(client: GobblerClient) -> None:
    with gdb.connect(client=client) as con:
        names = ("autoinstall_known_extensions", "autoload_known_extensions")
        settings = con.sql(f"SELECT current_setting('{names[0]}'), current_setting('{names[1]}')").fetchall()
        assert settings == [(False, False)]
        with pytest.raises(duckdb.Error, match="httpfs"):
            con.sql("SELECT * FROM 'http://127.0.0.1:9/x.parquet'").fetchall()
    with gdb.connect(client=client, config={"threads": 1}) as con:
        assert con.sql("SELECT current_setting('threads')").fetchall() == [(1,)]


def test_a_database_file_and_missing_paths(client: GobblerClient, tables: Tables, tmp_path: Path) -> None:
    database = tmp_path / "db.duckdb"
    with gdb.connect(str(database), client=client) as con:
        con.execute(f"CREATE TABLE parts AS SELECT * FROM '{tables.url('v2', 'parts/*.parquet')}'")
    with gdb.connect(str(database), client=client, read_only=True) as con:
        assert con.sql("SELECT count(*) FROM parts").fetchall() == [(PARTS * 40,)]
        with pytest.raises(duckdb.Error, match=r"No files found that match the pattern"):
            con.sql(f"SELECT * FROM '{tables.url('v1', 'absent/*.parquet')}'").fetchall()
    with pytest.raises(FileNotFoundError):
        gdb.files(tables.url("v1", "absent.parquet"), client=client)
