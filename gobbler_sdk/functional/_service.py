"""pygobbler's test-service functions, backed by :mod:`gobbler_sdk.testing`.

The signatures are pygobbler 0.1.11's, so annotations are evaluated eagerly and spelled as there.
"""
# ruff: noqa: UP006, UP035
# mypy: disable-error-code="no-untyped-def, type-arg"

from typing import Tuple

from .. import testing
from ._clients import forget_clients

__all__ = ["start_gobbler", "stop_gobbler"]


def start_gobbler(
    staging: str | None = None,
    registry: str | None = None,
    port: int | None = None,
    wait: float = 1,
    version: str = "0.5.0",
    overwrite: bool = False,
    admin: list | None = None,
    extra_args: list = [],  # noqa: B006 - pygobbler's default, never mutated here
) -> Tuple[bool, str, str, str]:
    """Start the process-wide test service unless it is already running.

    The service is a real Gobbler binary when ``GOBBLER_BINARY`` is set or the release is cached, else the
    embedded service; the call returns as soon as the service answers instead of sleeping ``wait`` seconds.

    Args:
        staging: Staging directory; a fresh temporary one when ``None``.
        registry: Registry directory; a fresh temporary one when ``None``.
        port: Port of the service; a free one when ``None``.
        wait: Kept for compatibility; only raises the start-up time limit above its 30 s default.
        version: Gobbler release to run when a binary has to be downloaded.
        overwrite: Download the release again even when it is cached.
        admin: Administrator user names; the current user when ``None``.
        extra_args: Further command-line arguments for the service.

    Returns:
        ``(created, staging, registry, url)``: whether this call started the service, and its details.
    """
    return testing.start_gobbler(staging, registry, port, wait, version, overwrite, admin, extra_args)


def stop_gobbler():
    """Stop the service started by :func:`start_gobbler`, if any, and close the clients pooled for it."""
    service = testing.current_service()
    if service is not None:
        forget_clients(service.url)
    testing.stop_gobbler()
