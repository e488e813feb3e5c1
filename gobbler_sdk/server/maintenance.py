"""Placeholder until maintenance is implemented."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def run(service: Any, now: datetime | None = None) -> None:
    """Not implemented yet."""
