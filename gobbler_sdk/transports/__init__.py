"""Transports: how the client reads a registry (mounted locally, or over the REST API)."""

from .base import Transport
from .local import LocalTransport
from .remote import RemoteTransport

__all__ = ["LocalTransport", "RemoteTransport", "Transport"]
