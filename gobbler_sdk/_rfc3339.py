"""Strict RFC 3339 timestamps, the one definition shared by the client and the embedded service.

Python's ``datetime.fromisoformat`` accepts far more than the Go reference does (dates without times,
missing offsets, lower-case separators), so parsing goes through a regular expression plus a calendar
check, and formatting always uses ``Z`` for a zero offset, at whole-second precision.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = ["format_rfc3339", "now_rfc3339", "parse_rfc3339"]

_PATTERN = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(?:(Z)|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def parse_rfc3339(text: str) -> datetime | None:
    """Parse an RFC 3339 date-time exactly as strictly as the reference service.

    Args:
        text: Something like ``2025-01-26T11:28:10Z`` or ``2025-01-26T12:28:10.5+01:00`` (also the
            variants Go's ``time.Parse`` takes: a comma before the fraction, offsets up to ``+24:00`` and
            ``+23:60``, year ``0000``).

    Returns:
        A timezone-aware datetime, or ``None`` when the text is not a valid RFC 3339 date-time.
    """
    match = _PATTERN.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    fraction = match.group(7) or ""
    micros = int((fraction + "000000")[:6]) if fraction else 0
    delta = timedelta(0)
    if not match.group(8):
        # Go's time.Parse takes offset hours up to 24 and minutes up to 60 (+24:00, +23:60).
        off_h, off_m = int(match.group(10)), int(match.group(11))
        if off_h > 24 or off_m > 60:
            return None
        delta = timedelta(hours=off_h, minutes=off_m)
        if match.group(9) == "-":
            delta = -delta
    try:
        if year == 0:
            # Go accepts year 0000, which datetime cannot hold: check the date in a leap year of the
            # same calendar (year 0 is a leap year) and stand for the moment by the earliest datetime.
            datetime(2000, month, day, hour, minute, second, micros)
            return datetime.min.replace(tzinfo=timezone.utc)
        if abs(delta) >= timedelta(hours=24):  # beyond what datetime.timezone can hold: keep it in UTC
            return datetime(year, month, day, hour, minute, second, micros, tzinfo=timezone.utc) - delta
        return datetime(year, month, day, hour, minute, second, micros, tzinfo=timezone(delta))
    except (ValueError, OverflowError):
        return None


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
