"""polars lazy scans of ``gobbler://`` paths and globs, with filter and projection pushdown.

polars reads remote files through its own object-store layer, which knows no ``gobbler://`` and takes no
fsspec filesystem for lazy scans. These functions hand polars what it reads natively instead: the registry's
own files when the registry is mounted here, else the service's ``/fetch/`` URLs, which answer HTTP
``Range`` requests, so a filter or a column selection reads only the row groups and columns it needs::

    import polars as pl
    from gobbler_sdk import polars as gpl

    frame = gpl.scan_parquet("gobbler://my-project/my-asset/..latest/parts/*.parquet")
    print(frame.filter(pl.col("count") > 10).select("gene", "count").collect())

Requires polars (``pip install 'gobbler-sdk[pydata]'``). See docs/pydata.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from .client import GobblerClient
from .engines import resolve

__all__ = ["scan_csv", "scan_parquet"]


def _options(polars_options: dict[str, Any]) -> dict[str, Any]:
    # The paths are already expanded from the manifest: a registry file whose name holds "*" or "[" must
    # not be globbed again.
    if polars_options.get("glob"):
        raise TypeError("glob=True is not supported: gobbler:// globs are expanded from the manifest")
    return {**polars_options, "glob": False}


def scan_parquet(
    path: str | Sequence[str], *, client: GobblerClient | None = None, **polars_options: Any
) -> pl.LazyFrame:
    """A polars ``LazyFrame`` over the Parquet files a ``gobbler://`` path or glob names.

    Globs are expanded from the version's manifest and ``..latest`` is resolved once, here; the files are
    then scanned in place (the mounted registry's own files, or ranged reads of the service's ``/fetch/``
    URLs), so polars' filter and projection pushdown reads only the row groups and columns a query needs.
    Ranged reads cannot be checked against the manifest's MD5 (fetch the file with ``Version.fetch`` first
    when that matters).

    Args:
        path: A ``gobbler://project/asset/version/path`` (``version`` may be ``..latest``), a glob inside
            a version (``gobbler://p/a/v1/parts/*.parquet``), or a sequence of them.
        client: The client to read through; ``None`` for one from the environment (``GOBBLER_URL``, ...),
            as ``gobbler://`` URLs get.
        **polars_options: Passed to ``polars.scan_parquet`` (``n_rows``, ``schema``, ``low_memory``, ...).

    Returns:
        The lazy frame; nothing but the paths' metadata has been read yet.

    Raises:
        InvalidArgumentError: When a path has another scheme or does not reach inside a version.
        FileNotFoundError: When a path or glob names no file.
        TypeError: When ``glob=True`` is passed.
    """
    resolved = resolve(path, client=client)
    return pl.scan_parquet(list(resolved.locations), **_options(polars_options))


def scan_csv(
    path: str | Sequence[str], *, client: GobblerClient | None = None, **polars_options: Any
) -> pl.LazyFrame:
    """A polars ``LazyFrame`` over the CSV files a ``gobbler://`` path or glob names.

    Paths are resolved as by :func:`scan_parquet`. A CSV file has no index to push filters into: polars
    reads each file whole (remotely, through the service's ``/fetch/`` URL), but only once per query.

    Args:
        path: A ``gobbler://`` path, a glob inside a version, or a sequence of them.
        client: The client to read through; ``None`` for one from the environment.
        **polars_options: Passed to ``polars.scan_csv`` (``separator``, ``schema_overrides``, ...).

    Returns:
        The lazy frame.

    Raises:
        InvalidArgumentError: When a path has another scheme or does not reach inside a version.
        FileNotFoundError: When a path or glob names no file.
        TypeError: When ``glob=True`` is passed.
    """
    resolved = resolve(path, client=client)
    return pl.scan_csv(list(resolved.locations), **_options(polars_options))
