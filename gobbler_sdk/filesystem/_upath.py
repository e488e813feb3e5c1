"""``upath.UPath("gobbler://...")``: universal-pathlib's path class for the ``gobbler`` protocol.

Registered through the ``universal_pathlib.implementations`` entry point and imported only by
universal-pathlib (an optional dependency), so that it knows the protocol instead of falling back, with a
warning, to its generic implementation.
"""

from __future__ import annotations

from upath.core import UPath

__all__ = ["GobblerPath"]


class GobblerPath(UPath):
    """A path in a Gobbler registry (``gobbler://project/asset/version/file``); read-only."""

    __slots__ = ()
