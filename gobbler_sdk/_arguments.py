"""The one check for list-valued arguments: a bare string or a single mapping is never taken for a list.

Python iterates a string character by character and a dictionary key by key, so ``owners="alice"`` would
otherwise become ``["a", "l", "i", "c", "e"]`` and ``uploaders={"id": "bob"}`` would become ``["id"]``,
silently. Every public parameter that takes several items goes through :func:`items_of` before anything
is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .errors import InvalidArgumentError

__all__ = ["items_of"]


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def items_of(
    value: object, parameter: str, *, item: type | tuple[type, ...] | None = None, noun: str = "items"
) -> list[Any]:
    """The items of a list-valued argument, refusing what would be silently misread.

    Args:
        value: What the caller passed: a list, tuple or other non-string iterable.
        parameter: The parameter's name, for the message.
        item: When given, the type (or types) every item must have; a ``value`` that is itself one is a
            single item where a list was expected (a pydantic model, say, which would iterate its fields).
        noun: What the items are, for the message (``"user names"``).

    Returns:
        The items, as a new list.

    Raises:
        InvalidArgumentError: When ``value`` is a string, bytes, a mapping or not iterable, or an item has
            the wrong type.
    """
    single = item is not None and isinstance(value, item)
    if single or isinstance(value, (str, bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
        hint = f"; for one, write [{_shown(value)}]" if single or isinstance(value, (str, Mapping)) else ""
        raise InvalidArgumentError(
            f"{parameter} must be a list of {noun}, not a {type(value).__name__} ({_shown(value)}){hint}"
        )
    items = list(value)
    if item is not None:
        for index, each in enumerate(items):
            if not isinstance(each, item):
                raise InvalidArgumentError(
                    f"{parameter}[{index}] must be one of the {noun}, not a {type(each).__name__} "
                    f"({_shown(each)})"
                )
    return items
