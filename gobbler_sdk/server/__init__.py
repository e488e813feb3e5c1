"""The embedded Gobbler service: a Python implementation of the reference Go service.

Run it with ``python -m gobbler_sdk.server -staging DIR -registry DIR [-port N] [-admin a,b] ...`` or
in-process with :class:`EmbeddedServer`.
"""

from .config import ServerConfig, SpoofTable, load_spoof_table, load_whitelist
from .runner import EmbeddedServer

__all__ = ["EmbeddedServer", "ServerConfig", "SpoofTable", "load_spoof_table", "load_whitelist"]
