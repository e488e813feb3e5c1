"""Strict RFC 3339 timestamps, the one definition shared by the client and the embedded service.

Python's ``datetime.fromisoformat`` accepts far more than the Go reference does (dates without times,
missing offsets, lower-case separators), so parsing follows Go's ``time.Parse`` with the RFC 3339 layout
element by element (taking what it takes, and failing where and as it fails, for the service to word
Go's errors), and formatting always uses ``Z`` for a zero offset, at whole-second precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

__all__ = [
    "RFC3339Error",
    "check_rfc3339",
    "format_rfc3339",
    "now_rfc3339",
    "parse_rfc3339",
    "parse_rfc3339_strict",
]

# The layout Go's time.Parse reads RFC 3339 with; its error messages name it and its elements.
LAYOUT = "2006-01-02T15:04:05Z07:00"


@dataclass(frozen=True)
class RFC3339Error(ValueError):
    """Why a text is not an RFC 3339 date-time, in the terms of Go's ``time.ParseError``.

    Attributes:
        element: The rest of the text where parsing stopped (for "cannot parse ... as ...").
        expected: The layout element that did not match there (``2006``, ``-``, ``Z07:00``, ...).
        message: Set instead of the two above for a value out of range or trailing text, such as
            ``: month out of range`` or ``: extra text: "x"`` (the caller quotes the extra text).
        extra: The trailing text, for an ``extra text`` message.
    """

    element: str = ""
    expected: str = ""
    message: str = ""
    extra: str | None = None


def _digit(text: str, index: int) -> bool:
    return index < len(text) and "0" <= text[index] <= "9"


def _number(text: str, fixed: bool) -> tuple[int, str] | None:
    """One or two leading digits (exactly two when ``fixed``) and the rest, as Go's ``getnum``."""
    if not _digit(text, 0):
        return None
    if not _digit(text, 1):
        return None if fixed else (int(text[0]), text[1:])
    return int(text[:2]), text[2:]


def check_rfc3339(text: str) -> tuple[datetime, timedelta]:
    """Parse ``text`` as Go's ``time.Parse(time.RFC3339, text)`` does, element by element.

    Returns:
        The wall-clock date-time (naive; in year 0, which it cannot hold, the earliest datetime) and the
        offset.

    Raises:
        RFC3339Error: At the first element that does not match or is out of range, as Go reports it.
    """
    rest = text
    fields: list[int] = []

    def literal(char: str) -> None:
        nonlocal rest
        if not rest.startswith(char):
            raise RFC3339Error(rest, char)
        rest = rest[1:]

    def number(expected: str, fixed: bool, allowed: range | None, what: str) -> None:
        nonlocal rest
        got = _number(rest, fixed)
        if got is None:
            raise RFC3339Error(rest, expected)
        value, rest = got
        if allowed is not None and value not in allowed:
            raise RFC3339Error(message=f": {what} out of range")
        fields.append(value)

    if len(rest) < 4 or not all(_digit(rest, i) for i in range(4)):
        raise RFC3339Error(rest, "2006")
    fields.append(int(rest[:4]))
    rest = rest[4:]
    literal("-")
    number("01", True, range(1, 13), "month")
    literal("-")
    # Any two digits are taken for the day here; the calendar is checked at the end.
    number("02", True, None, "day")
    literal("T")
    number("15", False, range(24), "hour")
    literal(":")
    number("04", True, range(60), "minute")
    literal(":")
    number("05", True, range(60), "second")
    micros = 0
    if len(rest) >= 2 and rest[0] in ".," and _digit(rest, 1):
        end = 2
        while _digit(rest, end):
            end += 1
        micros = int((rest[1:end] + "000000")[:6])
        rest = rest[end:]
    offset = timedelta(0)
    if rest.startswith("Z"):
        rest = rest[1:]
    else:
        if len(rest) < 6 or rest[3] != ":":
            raise RFC3339Error(rest, "Z07:00")
        hours, minutes = _number(rest[1:3], True), _number(rest[4:6], True)
        off_h = hours[0] if hours is not None else 0
        off_m = minutes[0] if minutes is not None and hours is not None else 0
        # Offsets of 24 hours or 60 minutes are taken; the range is checked before the sign.
        if off_m > 60:
            raise RFC3339Error(message=": time zone offset minute out of range")
        if off_h > 24:
            raise RFC3339Error(message=": time zone offset hour out of range")
        if hours is None or minutes is None or rest[0] not in "+-":
            raise RFC3339Error(rest, "Z07:00")
        offset = timedelta(hours=off_h, minutes=off_m)
        if rest[0] == "-":
            offset = -offset
        rest = rest[6:]
    if rest:
        raise RFC3339Error(message=": extra text: ", extra=rest)
    year, month, day, hour, minute, second = fields
    # Year 0 is a leap year, like 2000; datetime cannot hold it.
    leap_year = year if year else 2000
    try:
        moment = datetime(leap_year, month, day, hour, minute, second, micros)
    except ValueError:
        raise RFC3339Error(message=": day out of range") from None
    return (datetime.min if year == 0 else moment), offset


def parse_rfc3339(text: str) -> datetime | None:
    """Parse an RFC 3339 date-time exactly as strictly as the reference service.

    Args:
        text: Something like ``2025-01-26T11:28:10Z`` or ``2025-01-26T12:28:10.5+01:00`` (also the
            variants Go's ``time.Parse`` takes: a one-digit hour, a comma before the fraction, offsets up
            to ``+24:00`` and ``+23:60``, year ``0000``).

    Returns:
        A timezone-aware datetime, or ``None`` when the text is not a valid RFC 3339 date-time.
    """
    try:
        return parse_rfc3339_strict(text)
    except RFC3339Error:
        return None


def parse_rfc3339_strict(text: str) -> datetime:
    """:func:`parse_rfc3339`, raising why the text is refused instead of returning ``None``.

    Raises:
        RFC3339Error: In the terms of Go's ``time.ParseError``.
    """
    wall, delta = check_rfc3339(text)
    if wall == datetime.min:
        # Year 0000 cannot be held: it stands for the earliest datetime, whatever the offset.
        return wall.replace(tzinfo=timezone.utc)
    try:
        if abs(delta) >= timedelta(hours=24):  # beyond what datetime.timezone can hold: keep it in UTC
            return wall.replace(tzinfo=timezone.utc) - delta
        return wall.replace(tzinfo=timezone(delta))
    except OverflowError:
        raise RFC3339Error(message=": value out of range") from None


def format_rfc3339(moment: datetime) -> str:
    """Format a datetime the way the reference writes timestamps.

    Args:
        moment: A timezone-aware datetime; sub-second precision is dropped.

    Returns:
        ``YYYY-MM-DDTHH:MM:SS`` followed by ``Z`` for a zero offset, else ``+HH:MM``/``-HH:MM``.
    """
    text = moment.replace(microsecond=0).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def now_rfc3339() -> str:
    """Return the current time in the local time zone, formatted by :func:`format_rfc3339`."""
    return format_rfc3339(datetime.now().astimezone())
