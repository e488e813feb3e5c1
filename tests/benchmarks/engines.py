"""Workload j: one filtered query over a large Parquet file through polars, DuckDB and ``datasets``.

Each engine runs the same query (the rows of a narrow ``id`` range with ``key < 100``: their count and the
sum of ``value``) over a Parquet file of ``engine_parquet_bytes`` (50 MiB in a full run) in two ways,
measured side by side in the same rounds:

- remote, over ``gobbler://`` through the service (``transport="remote"``): ``gobbler_sdk.polars``,
  ``gobbler_sdk.duckdb.connect`` and ``datasets.load_dataset(..., streaming=True, filters=...)``;
- the same query on a local copy of the file.

The bytes each remote query made the service send are counted once, untimed, through a TCP proxy. On the
mounted registry, DuckDB is also measured through the filesystem (``gobbler://`` in SQL) against the
registry's own files handed to its reader (``gobbler_sdk.duckdb.files``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gobbler_sdk import GobblerClient

from ..filesystem.support import CountingProxy
from .base import Row, Times, Workload, median, per_round, timed
from .floors import FloorError
from .settings import Sizes
from .workspace import PROJECT, Workspace

#: Row groups of the generated file; the query's rows are in one of them.
ROW_GROUPS = 12
ENGINES = ("polars", "duckdb", "datasets")


class EngineQueries(Workload):
    """Workload j: a filtered Parquet query per engine, over ``gobbler://`` and on a local copy."""

    key = "j"

    def __init__(self, workspace: Workspace, sizes: Sizes) -> None:
        super().__init__()
        self.workspace = workspace
        self.size = sizes.engine_parquet_bytes
        self.title = "engines on gobbler://"
        self.contenders = [f"{e}-{w}" for e in ENGINES for w in ("local", "remote")]
        self.contenders += ["duckdb-mounted", "duckdb-files"]
        self.path = f"{PROJECT}/engines/v1/table.parquet"
        self.url = "gobbler://" + self.path
        self.local = workspace.data / "engines-table.parquet"
        self.file_bytes = 0
        self.counted: dict[str, int] = {}
        self.expected: tuple[int, float] = (0, 0.0)
        self.bounds = (0, 0)
        self.clients: dict[str, GobblerClient] = {}

    def setup(self) -> None:
        """Write and upload the file, compute the answer, count each remote query's bytes once."""
        rows = max(self.size * 2 // 31, ROW_GROUPS * 1024)  # about 15.5 bytes a row, compressed
        group = -(-rows // ROW_GROUPS)
        rng = np.random.default_rng(29)
        table = pa.table(
            {
                "id": np.arange(rows, dtype=np.int64),
                "key": rng.integers(0, 1000, rows, dtype=np.int32),
                "value": rng.random(rows),
            }
        )
        pq.write_table(table, self.local, row_group_size=group)
        self.file_bytes = self.local.stat().st_size
        low = 5 * group + group // 4  # a quarter of the sixth row group
        self.bounds = (low, low + group // 4)
        ids, keys, values = (table[c].to_numpy() for c in ("id", "key", "value"))
        chosen = (ids >= self.bounds[0]) & (ids <= self.bounds[1]) & (keys < 100)
        self.expected = (int(chosen.sum()), float(values[chosen].sum()))
        source = self.workspace.data / "engines"
        source.mkdir()
        shutil.copyfile(self.local, source / "table.parquet")
        self.workspace.primary.admin.project(PROJECT).asset("engines").upload("v1", source)
        shutil.rmtree(source)
        # datasets reads Hugging Face's locations once, when first imported: keep its caches in the scratch.
        home = self.workspace.scratch("j-hf")
        os.environ.update(HF_HOME=str(home), HF_DATASETS_CACHE=str(home / "datasets"))
        os.environ.update(HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
        endpoint = self.workspace.primary
        for transport in ("remote", "local"):
            self.clients[transport] = endpoint.client(
                self.workspace.scratch(f"j-{transport}"), transport=transport
            )
        with CountingProxy(endpoint.url) as proxy:
            counting = GobblerClient(proxy.url, transport="remote", cache=self.workspace.scratch("j-counted"))
            try:
                for engine in ENGINES:
                    query = self._query(engine, "remote", counting)
                    query()  # the manifest is read, and kept, first
                    proxy.reset()
                    self._check(engine, query())
                    self.counted[engine] = proxy.sent
            finally:
                counting.close()

    def _query(self, engine: str, where: str, client: GobblerClient | None = None) -> Callable[[], Any]:
        """The query of ``engine`` against the local copy (``local``) or over ``gobbler://``."""
        low, high = self.bounds
        client = client or self.clients.get("local" if where in ("mounted", "files") else "remote")
        if engine == "polars":
            import polars as pl

            from gobbler_sdk import polars as gpl

            def polars_query() -> Any:
                frame = (
                    pl.scan_parquet(self.local)
                    if where == "local"
                    else gpl.scan_parquet(self.url, client=client)
                )
                chosen = frame.filter(pl.col("id").is_between(low, high) & (pl.col("key") < 100))
                return chosen.select(pl.len(), pl.col("value").sum()).collect().row(0)

            return polars_query
        if engine == "duckdb":
            import duckdb

            from gobbler_sdk import duckdb as gdb

            sql = (
                "SELECT count(*), sum(value) FROM read_parquet($files)"
                " WHERE id BETWEEN $low AND $high AND key < 100"
            )

            def duckdb_query() -> Any:
                if where == "local":
                    with duckdb.connect() as con:
                        return con.execute(
                            sql, {"files": [str(self.local)], "low": low, "high": high}
                        ).fetchall()[0]
                files = gdb.files(self.url, client=client) if where == "files" else [self.url]
                with gdb.connect(client=client) as con:
                    return con.execute(sql, {"files": files, "low": low, "high": high}).fetchall()[0]

            return duckdb_query

        import datasets

        def datasets_query() -> Any:
            options: dict[str, Any] = {}
            if where != "local":
                assert client is not None
                options["storage_options"] = {"client": client}
            loaded = datasets.load_dataset(
                "parquet",
                data_files=str(self.local) if where == "local" else self.url,
                streaming=True,
                columns=["value"],
                filters=[("id", ">=", low), ("id", "<=", high), ("key", "<", 100)],
                **options,
            )["train"]
            count, total = 0, 0.0
            for batch in loaded.iter(batch_size=65_536):
                count += len(batch["value"])
                total += float(np.sum(batch["value"]))
            return count, total

        return datasets_query

    def _check(self, contender: str, result: Any) -> None:
        count, total = result
        if count != self.expected[0] or not np.isclose(total, self.expected[1]):
            raise FloorError(f"{contender} returned {result} instead of {self.expected}")

    def measure(self, contender: str, round_index: int) -> float:
        """Run one query once; check its answer."""
        engine, where = contender.split("-")
        query = self._query(engine, where)
        results: list[Any] = []
        seconds = timed(lambda: results.append(query()))
        self._check(contender, results[0])
        return seconds

    def teardown(self) -> None:
        """Close the clients."""
        for client in self.clients.values():
            client.close()

    def rows(self, rounds: Sequence[Times]) -> list[Row]:
        """One row per engine (remote against the local copy), and DuckDB's two ways to a mounted registry."""

        def row(key: str, title: str, sdk: str, floor: str, floor_label: str, notes: list[str]) -> Row:
            sdk_ratio = per_round(rounds, lambda t: t.get(sdk), lambda t: t.get(floor))
            return Row(
                key=key,
                title=title,
                floor=median([t.get(floor) for t in rounds]),
                sdk=median([t.get(sdk) for t in rounds]),
                pyg=None,
                sdk_ratio=sdk_ratio,
                pyg_ratio=None,
                target="(reported)",
                measured=f"{sdk_ratio:.2f}x" if sdk_ratio else "n/a",
                met=None,
                verdict="no target",
                floor_label=floor_label,
                pyg_label="n/a (no pygobbler equivalent)",
                notes=notes,
            )

        size = f"{self.file_bytes / 2**20:.0f} MiB"
        out = []
        for engine in ENGINES:
            sent = self.counted.get(engine, 0)
            share = sent / self.file_bytes
            note = f"bytes the service sent: {sent:,} of the file's {self.file_bytes:,} ({share:.1%})"
            out.append(
                row(
                    f"j-{engine}",
                    f"{engine}: filtered query of a {size} Parquet file over gobbler:// vs a local copy",
                    f"{engine}-remote",
                    f"{engine}-local",
                    f"{engine} on a local copy",
                    [note],
                )
            )
        out.append(
            row(
                "j-mounted",
                "DuckDB on the mounted registry: gobbler:// in SQL vs gobbler_sdk.duckdb.files()",
                "duckdb-mounted",
                "duckdb-files",
                "read_parquet of the registry's own files (files())",
                ["both read the registry's files in place, without an HTTP request"],
            )
        )
        return out
