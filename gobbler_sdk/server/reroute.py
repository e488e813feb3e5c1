"""Placeholder until the action family is implemented."""

from __future__ import annotations

from typing import Any

from .errors import RequestError


def reroute_links(service: Any, request: Any) -> dict[str, Any]:
    """Not implemented yet."""
    raise RequestError(500, "reroute_links is not implemented yet")
