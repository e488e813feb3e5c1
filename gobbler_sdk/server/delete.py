"""Placeholder until the action family is implemented."""

from __future__ import annotations

from typing import Any

from .errors import RequestError


def delete_project(service: Any, request: Any) -> dict[str, Any]:
    """Not implemented yet."""
    raise RequestError(500, "delete_project is not implemented yet")


def delete_asset(service: Any, request: Any) -> dict[str, Any]:
    """Not implemented yet."""
    raise RequestError(500, "delete_asset is not implemented yet")


def delete_version(service: Any, request: Any) -> dict[str, Any]:
    """Not implemented yet."""
    raise RequestError(500, "delete_version is not implemented yet")
