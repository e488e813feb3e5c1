"""Usage accounting and latest-version bookkeeping.

Several action families change ``..usage`` and ``..latest``; this module is the one place that knows how.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime

from .documents import (
    LATEST,
    USAGE,
    Manifest,
    PendingWrites,
    finish_time,
    read_json_file,
    read_manifest,
    read_summary,
    write_json,
)
from .errors import RequestError
from .goerrors import go_quote, read_dir_error_text
from .gojson import Struct
from .locks import LOCK_USAGE, LockManager

__all__ = [
    "adjust_usage",
    "asset_usage",
    "child_directories",
    "project_usage",
    "read_latest",
    "read_usage",
    "recompute_latest",
    "stored_version_usage",
    "version_usage",
    "write_latest",
    "write_usage",
]


def version_usage(manifest: Manifest) -> int:
    """Bytes a version adds to its project: the sizes of manifest entries without ``link``."""
    return sum(entry.get("size", 0) for entry in manifest.values() if entry.get("link") is None)


def child_directories(directory: str, *, skip_internal: bool = True, context: str | None = None) -> list[str]:
    """Names of the sub-directories of ``directory`` (symlinks excluded), sorted by name.

    Args:
        directory: Directory to list.
        skip_internal: Drop names starting with ``..``.
        context: What a failure says before the OS error; ``failed to read contents of "<dir>"`` by
            default.

    Raises:
        RequestError: 500 when the directory cannot be listed.
    """
    try:
        with os.scandir(directory) as entries:
            names = [
                e.name
                for e in entries
                if e.is_dir(follow_symlinks=False) and not (skip_internal and e.name.startswith(".."))
            ]
    except OSError as exc:
        detail = read_dir_error_text(directory, exc)
        where = context if context is not None else f"failed to read contents of {go_quote(directory)}"
        raise RequestError(500, f"{where}; {detail}") from exc
    return sorted(names, key=lambda n: n.encode("utf-8", errors="surrogateescape"))


def read_usage(project_dir: str) -> int:
    """The total recorded in ``<project_dir>/..usage``; callers hold the usage lock or exclude writers.

    Raises:
        RequestError: 500 when the file cannot be read or parsed.
    """
    path = os.path.join(project_dir, USAGE)
    value = read_json_file(
        path,
        Struct({"total": "int"}, "usageMetadata"),
        f"failed to read '{path}'",
        f"failed to parse JSON in '{path}'",
    )
    return int((value or {}).get("total", 0))


def adjust_usage(
    locks: LockManager, project_dir: str, delta: int, *, along: Sequence[tuple[str, object]] = ()
) -> None:
    """Add ``delta`` to ``<project_dir>/..usage`` under the project's usage lock.

    Args:
        locks: The service's lock manager.
        project_dir: The project.
        delta: Bytes to add (negative to subtract).
        along: Further internal files ``(path, value)`` to write with the new usage, all or none
            (:class:`~.documents.PendingWrites`): the usage first, then these in order.

    Raises:
        RequestError: 500 when ``..usage`` cannot be read, or any of the files written; nothing was
            changed then.
    """
    with locks.hold(project_dir, exclusive=True, name=LOCK_USAGE):
        try:
            total = read_usage(project_dir) + delta
        except RequestError as exc:
            raise exc.wrap(f"failed to read existing usage for {go_quote(project_dir)}") from None
        with PendingWrites() as pending:
            pending.add(os.path.join(project_dir, USAGE), {"total": total})
            for path, value in along:
                pending.add(path, value)
            pending.commit()


def write_usage(project_dir: str, total: int) -> None:
    """Record ``total`` in ``<project_dir>/..usage``."""
    write_json(os.path.join(project_dir, USAGE), {"total": total})


def stored_version_usage(version_dir: str) -> int:
    """A version's usage from its ``..manifest``.

    Raises:
        RequestError: 500 ``failed to open manifest; ...`` when it cannot be read.
    """
    try:
        return version_usage(read_manifest(version_dir))
    except RequestError as exc:
        raise exc.wrap("failed to open manifest") from None


def asset_usage(asset_dir: str) -> int:
    """An asset's usage: that of every sub-directory (even ``..`` ones, as in the reference).

    Raises:
        RequestError: 500 ``failed to get usage for version "<V>"; ...`` for an unreadable manifest.
    """
    total = 0
    for version in child_directories(asset_dir, skip_internal=False, context="failed to list versions"):
        try:
            total += stored_version_usage(os.path.join(asset_dir, version))
        except RequestError as exc:
            raise exc.wrap(f"failed to get usage for version {go_quote(version)}") from None
    return total


def project_usage(project_dir: str) -> int:
    """Recompute a project's usage from every ``asset/version/..manifest`` beneath it (9.2).

    Names are not filtered at either level, as in the reference.

    Raises:
        RequestError: 500 ``failed to get usage for asset "<A>"; ...`` for an unreadable manifest.
    """
    total = 0
    for asset in child_directories(project_dir, skip_internal=False):
        try:
            total += asset_usage(os.path.join(project_dir, asset))
        except RequestError as exc:
            raise exc.wrap(f"failed to get usage for asset {go_quote(asset)}") from None
    return total


def read_latest(asset_dir: str) -> str | None:
    """Name recorded in ``<asset_dir>/..latest``, or ``None`` when the file does not exist.

    Raises:
        RequestError: 500 when the file exists but cannot be read or parsed.
    """
    path = os.path.join(asset_dir, LATEST)
    if not os.path.lexists(path):
        return None
    value = read_json_file(
        path,
        Struct({"version": "string"}, "latestMetadata"),
        f"failed to read '{path}'",
        f"failed to parse JSON in '{path}'",
    )
    return str((value or {}).get("version", ""))


def write_latest(asset_dir: str, version: str) -> None:
    """Record ``version`` as the asset's latest."""
    write_json(os.path.join(asset_dir, LATEST), {"version": version})


def recompute_latest(asset_dir: str) -> str | None:
    """Find the non-probational version with the latest ``upload_finish`` and record it (10.3).

    Ties go to the byte-wise smallest name. With no candidate, ``..latest`` is removed.

    Returns:
        The new latest version, or ``None``.

    Raises:
        RequestError: 500 when a summary is unreadable or its finish time unparsable.
    """
    best: str | None = None
    best_time: datetime | None = None
    for version in child_directories(asset_dir):
        version_dir = os.path.join(asset_dir, version)
        try:
            summary = read_summary(version_dir)
        except RequestError as exc:
            raise exc.wrap(f"failed to read summary from {go_quote(version_dir)}") from None
        if summary.get("on_probation") is True:
            continue
        try:
            finished = finish_time(summary)
        except RequestError as exc:
            raise exc.wrap(f"could not parse 'upload_finish' from {go_quote(version_dir)}") from None
        if best_time is None or finished > best_time:
            best, best_time = version, finished
    if best is not None:
        try:
            write_latest(asset_dir, best)
        except RequestError as exc:
            raise exc.wrap(f"failed to update latest version in {go_quote(asset_dir)}") from None
    else:
        try:
            os.unlink(os.path.join(asset_dir, LATEST))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise RequestError(500, f"failed to remove the latest version file; {exc}") from exc
    return best
