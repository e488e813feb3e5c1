"""Sizes as people write them (``"500M"``, ``"1.5GiB"``): one parser for the Python API and the CLI."""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["parse_size"]

#: Decimal factors; a trailing ``i`` (``KiB``, ``GiB``) makes them binary.
_DECIMAL = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Read a size: ``"42"`` is 42 bytes, ``"500M"`` 500,000,000, ``"1.5GiB"`` 1,610,612,736.

    Units are ``B``, ``K``/``KB``, ``M``/``MB``, ``G``/``GB``, ``T``/``TB`` (powers of 1000) and ``KiB``,
    ``MiB``, ``GiB``, ``TiB`` (powers of 1024), in any case, with or without a space before them.

    Args:
        text: The size.

    Returns:
        The number of bytes (fractions of a byte are dropped).

    Raises:
        ValueError: When ``text`` is not a size.
    """
    match = _SIZE.fullmatch(text)
    if match is None or (match.group(3) and not match.group(2)):
        raise ValueError(f"{text!r} is not a size (examples: 42, 500M, 1.5GiB)")
    number, unit, binary = match.groups()
    unit = unit.lower()
    factor = 1024 ** ("kmgt".index(unit) + 1) if binary else _DECIMAL[unit]
    # Exact arithmetic: no float rounding, and no overflow for absurdly long numbers.
    return int(Fraction(number) * factor)
