"""The one surface handles reach the client's core through, bound once when the client is built."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._documents import Documents
from ._downloads import Downloads
from ._writes import Writes

if TYPE_CHECKING:
    from .client import GobblerClient

__all__ = ["Core"]


@dataclass(frozen=True)
class Core:
    """What a handle may use: the public client, and the client's documents, downloads and writes.

    Attributes:
        client: The client the handles belong to (its public API).
        documents: Reads and parses registry documents, and explains what is missing.
        downloads: Places files and directories on this machine.
        writes: Submits changes.
    """

    client: GobblerClient
    documents: Documents
    downloads: Downloads
    writes: Writes
