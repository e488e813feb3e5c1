"""Placeholder until the action family is implemented."""

from __future__ import annotations

from typing import Any

from .errors import RequestError


def refresh_latest(service: Any, request: Any) -> dict[str, Any]:
    """Not implemented yet."""
    raise RequestError(500, "refresh_latest is not implemented yet")


def refresh_usage(service: Any, request: Any) -> dict[str, Any]:
    """Not implemented yet."""
    raise RequestError(500, "refresh_usage is not implemented yet")
