"""DuckDB connections that query ``gobbler://`` paths and globs in SQL.

::

    from gobbler_sdk import duckdb as gdb

    con = gdb.connect()
    con.sql("SELECT gene, sum(count) FROM 'gobbler://my-project/my-asset/v1/*.parquet' GROUP BY gene")

:func:`connect` registers a :class:`~gobbler_sdk.GobblerFileSystem` with the connection: DuckDB's Parquet,
CSV and JSON readers then open ``gobbler://`` paths through it, reading only the byte ranges they ask for
(the registry's own files when it is mounted here, ranged HTTP reads otherwise). DuckDB's ``httpfs``
extension is never needed, and extensions are neither downloaded nor loaded automatically.

On a mounted registry, :func:`files` hands DuckDB's readers the registry's own files by their local paths,
which skips the Python filesystem layer (measured twice as fast; see docs/pydata.md).

Requires duckdb (``pip install 'gobbler-sdk[pydata]'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from .client import GobblerClient
from .engines import resolve
from .engines._paths import filesystem

__all__ = ["connect", "files"]

#: DuckDB settings every connection gets: a missing extension is an error, never a download.
OFFLINE_CONFIG: dict[str, Any] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


def connect(
    database: str = ":memory:",
    *,
    client: GobblerClient | None = None,
    read_only: bool = False,
    config: dict[str, Any] | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection in which ``gobbler://`` paths and globs can be queried.

    ``SELECT ... FROM 'gobbler://project/asset/v1/*.parquet'``, ``read_csv('gobbler://...')`` and the
    like read through a :class:`~gobbler_sdk.GobblerFileSystem` registered with the connection: globs are
    expanded from the version's manifest, ``..latest`` is the asset's latest version, and only the byte
    ranges DuckDB asks for are read (a ``COUNT(*)`` of a Parquet file reads its footer alone). On a mounted
    registry those are reads of the registry's own files, without an HTTP request.

    Args:
        database: DuckDB's database (``":memory:"`` or a file), as for ``duckdb.connect``.
        client: The client to read through; ``None`` for one from the environment (``GOBBLER_URL``, ...),
            as ``gobbler://`` URLs get.
        read_only: Open ``database`` read-only.
        config: DuckDB settings; automatic extension installation and loading are off unless set here.

    Returns:
        The connection (close it when done).
    """
    connection = duckdb.connect(database, read_only=read_only, config={**OFFLINE_CONFIG, **(config or {})})
    try:
        connection.register_filesystem(filesystem(client))
    except BaseException:
        connection.close()
        raise
    return connection


def files(path: str | Sequence[str], *, client: GobblerClient | None = None) -> list[str]:
    """The files a ``gobbler://`` path or glob names, spelt for the fastest read by a DuckDB connection.

    On a mounted registry: the registry's own files by their local paths, which DuckDB's readers open
    natively. Otherwise: ``gobbler://`` URLs with globs expanded and ``..latest`` resolved once, read
    through the filesystem :func:`connect` registers. Either way, pass the list as a parameter::

        con.execute("SELECT count(*) FROM read_parquet($files)", {"files": files("gobbler://p/a/v1/*.parquet")})

    Args:
        path: A ``gobbler://`` path, a glob inside a version, or a sequence of them.
        client: The client to read through; ``None`` for one from the environment.

    Returns:
        The files, in the order given (each glob's matches sorted by name), each once.

    Raises:
        InvalidArgumentError: When a path has another scheme or does not reach inside a version.
        FileNotFoundError: When a path or glob names no file.
    """
    resolved = resolve(path, client=client)
    return list(resolved.locations if resolved.mounted else resolved.urls)
