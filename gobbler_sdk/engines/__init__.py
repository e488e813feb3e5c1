"""``gobbler://`` paths for query engines that do not read through fsspec themselves: polars and DuckDB.

:mod:`gobbler_sdk.polars` and :mod:`gobbler_sdk.duckdb` are the public modules; this package holds what
they share, :func:`resolve`: a ``gobbler://`` path or glob turned into the files it names (globs expanded
from the version's manifest, ``..latest`` resolved once) and, for each, where an engine reads it in place:
the registry's own file when the registry is mounted here, else the service's ``/fetch/`` URL, which
answers HTTP ``Range`` requests. Hugging Face ``datasets`` needs nothing of this: it reads ``gobbler://``
through :class:`~gobbler_sdk.GobblerFileSystem` (see docs/pydata.md).
"""

from __future__ import annotations

from ._paths import Resolved, resolve

__all__ = ["Resolved", "resolve"]
