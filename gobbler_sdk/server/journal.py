"""The ``..logs`` journal of registry changes (PROTOCOL.md 7.9)."""

from __future__ import annotations

import os
import secrets

from .._rfc3339 import now_rfc3339
from .documents import write_json

__all__ = ["LOGS", "write_log"]

LOGS = "..logs"


def write_log(registry: str, entry: dict[str, object]) -> None:
    """Write one log file ``<now>_<random 100000-999999>`` with the entry's keys sorted.

    Args:
        registry: Registry root.
        entry: ``type`` plus the keys that type carries (``project``, ``asset``, ``version``, ``latest``).

    Raises:
        RequestError: 500 when the file cannot be written.
    """
    name = f"{now_rfc3339()}_{100000 + secrets.randbelow(900000)}"
    write_json(os.path.join(registry, LOGS, name), {key: entry[key] for key in sorted(entry)})
