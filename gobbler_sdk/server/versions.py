"""Placeholder until the action family is implemented."""

from __future__ import annotations

from typing import Any

from .errors import RequestError


def reindex_version(service: Any, request: Any) -> dict[str, Any]:
    """Not implemented yet."""
    raise RequestError(500, "reindex_version is not implemented yet")


def validate_version(service: Any, request: Any) -> dict[str, Any]:
    """Not implemented yet."""
    raise RequestError(500, "validate_version is not implemented yet")
