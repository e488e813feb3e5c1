"""Transports: how the client reads a registry (mounted locally, over the REST API, or your own)."""

from .base import ByteCallback, FileCallback, Slice, Transport
from .local import LocalTransport
from .remote import RemoteTransport

__all__ = ["ByteCallback", "FileCallback", "LocalTransport", "RemoteTransport", "Slice", "Transport"]
