"""The ``..logs`` journal of registry changes."""

from __future__ import annotations

import os
import secrets

from .._rfc3339 import now_rfc3339
from .documents import write_json

__all__ = ["LOGS", "new_log", "version_entry", "write_log", "write_version_log"]

LOGS = "..logs"


def new_log(registry: str, entry: dict[str, object]) -> tuple[str, dict[str, object]]:
    """The path of a new log file ``<now>_<random 100000-999999>`` and its content (keys sorted).

    Args:
        registry: Registry root.
        entry: ``type`` plus the keys that type carries (``project``, ``asset``, ``version``, ``latest``).
    """
    name = f"{now_rfc3339()}_{100000 + secrets.randbelow(900000)}"
    return os.path.join(registry, LOGS, name), {key: entry[key] for key in sorted(entry)}


def write_log(registry: str, entry: dict[str, object]) -> None:
    """Write one log file (:func:`new_log`).

    Args:
        registry: Registry root.
        entry: ``type`` plus the keys that type carries.

    Raises:
        RequestError: 500 when the file cannot be written.
    """
    write_json(*new_log(registry, entry))


def version_entry(kind: str, project: str, asset: str, version: str, latest: bool) -> dict[str, object]:
    """The log entry of an event about one version (``add-version``, ``delete-version``, ...)."""
    return {"type": kind, "project": project, "asset": asset, "version": version, "latest": latest}


def write_version_log(registry: str, kind: str, project: str, asset: str, version: str, latest: bool) -> None:
    """Log an event about one version (``add-version``, ``delete-version``, ``reindex-version``).

    Args:
        registry: Registry root.
        kind: The entry's ``type``.
        project: Project of the version.
        asset: Asset of the version.
        version: The version.
        latest: Whether the version is (or was, for a deletion) the asset's latest.
    """
    write_log(registry, version_entry(kind, project, asset, version, latest))
