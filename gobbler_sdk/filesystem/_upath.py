"""``upath.UPath("gobbler://...")``: universal-pathlib's path class for the ``gobbler`` protocol.

Registered through the ``universal_pathlib.implementations`` entry point and imported only by
universal-pathlib (an optional dependency), so that it knows the protocol instead of falling back, with a
warning, to its generic implementation.
"""

from __future__ import annotations

from fsspec.registry import register_implementation
from upath.core import UPath

from . import GobblerFileSystem

__all__ = ["GobblerPath"]

# universal-pathlib looks the protocol's path rules up among the filesystem classes fsspec has already
# imported; registering the class here (the entry point only names it) spares a warning on first use.
register_implementation(GobblerFileSystem.protocol, GobblerFileSystem, clobber=True)


class GobblerPath(UPath):
    """A path in a Gobbler registry (``gobbler://project/asset/version/file``); read-only."""

    __slots__ = ()
