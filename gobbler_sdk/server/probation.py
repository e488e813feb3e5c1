"""Placeholder until the action family is implemented."""

from __future__ import annotations

from typing import Any

from .errors import RequestError


def approve_probation(service: Any, request: Any) -> dict[str, Any]:
    """Not implemented yet."""
    raise RequestError(500, "approve_probation is not implemented yet")


def reject_probation(service: Any, request: Any) -> dict[str, Any]:
    """Not implemented yet."""
    raise RequestError(500, "reject_probation is not implemented yet")
