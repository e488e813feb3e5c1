"""What the command line writes: tables and lines for people, one JSON document for scripts.

In JSON mode (``--json``) each command writes exactly one JSON document to standard output and nothing
else; a failure writes ``{"error": {...}}`` there instead. Messages, prompts and progress always go to
standard error, so they never mix with results. ``rich`` is imported only when a table is drawn.

Everything written for people passes through :func:`printable` here, at the boundary: names of projects,
assets, versions and files, the service's error reasons and ``/info`` values are chosen by whoever can
write to the registry or run the service, and must not move the cursor, retitle the window or fake a line.
The JSON document is left as it is (JSON escapes what matters, and scripts need the exact names).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

__all__ = ["Output", "PrintableFormatter", "human_size", "printable", "printable_lines", "timestamp"]

# Wide enough that tables piped into a file or another program are never truncated or wrapped.
_PIPE_WIDTH = 400


# C0 controls (ESC among them), DEL, C1 controls, the line and paragraph separators, and the bidirectional
# overrides and isolates, which reorder what follows them on screen and so can disguise a name.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    r"""``text`` with every control character shown as an escape (ESC as ``\x1b``, newline as ``\n``).

    Escaped are the C0 controls (tab as ``\t``, carriage return as ``\r``), DEL, the C1 controls, U+2028 and
    U+2029, and the bidirectional formatting characters; everything else is left alone.
    """
    return _UNPRINTABLE.sub(_escape, text)


def printable_lines(text: str) -> str:
    """Several lines (a traceback) made safe as :func:`printable` does, keeping their line breaks."""
    return "\n".join(printable(line) for line in text.split("\n"))


class PrintableFormatter(logging.Formatter):
    """A log formatter whose messages pass through :func:`printable` (tracebacks keep their lines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The formatted message, made safe for a terminal."""
        return printable(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        """The traceback of a record, made safe for a terminal line by line."""
        return printable_lines(super().formatException(ei))


def human_size(size: int | None) -> str:
    """``1536`` → ``"1.5 KiB"``; ``None`` → ``""``."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def timestamp(value: datetime | None) -> str | None:
    """An RFC 3339 string (``Z`` for UTC), as the service writes them; ``None`` stays ``None``."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class Output:
    """Where one command's results and messages go.

    Args:
        json_mode: Write results as one JSON document instead of tables and lines.
        quiet: Leave out informational messages (results and errors are still written).
    """

    def __init__(self, *, json_mode: bool = False, quiet: bool = False) -> None:
        self.json_mode = json_mode
        self.quiet = quiet

    def document(self, data: Mapping[str, Any]) -> None:
        """Write ``data`` as the command's JSON document (JSON mode only)."""
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    def line(self, text: str) -> None:
        """Write one line of results to standard output (control characters escaped)."""
        sys.stdout.write(printable(text) + "\n")

    def note(self, text: str) -> None:
        """Write an informational one-line message to standard error, unless quiet."""
        if not self.quiet:
            sys.stderr.write(printable(text) + "\n")

    def error(self, text: str) -> None:
        """Write an error message to standard error as a single line (line breaks become spaces)."""
        sys.stderr.write("gobbler-sdk: error: " + printable(" ".join(text.split())) + "\n")
        sys.stderr.flush()

    def confirm(self, question: str) -> bool:
        """Ask ``question`` on standard error and read yes or no (no by default)."""
        import typer

        return typer.confirm(printable(question), default=False, err=True)

    def table(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[object]],
        *,
        title: str | None = None,
        right: Sequence[str] = (),
    ) -> None:
        """Draw a table on standard output (colours and box lines only on a terminal).

        Args:
            columns: Column headers.
            rows: Cells, converted with ``str`` (``None`` becomes an empty cell).
            title: A caption above the table.
            right: Headers of the columns to align right (numbers).
        """
        from rich import box
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        terminal = sys.stdout.isatty()
        console = Console(width=None if terminal else _PIPE_WIDTH, soft_wrap=not terminal)
        # Box lines only for people; piped output is plain aligned columns.
        table = Table(
            title=None if title is None else Text(printable(title)),
            title_justify="left",
            box=box.SIMPLE_HEAD if terminal else None,
        )
        for column in columns:
            table.add_column(column, justify="right" if column in right else "left", overflow="fold")
        for row in rows:
            # Text cells: names like "[x].txt" must not be read as rich markup.
            table.add_row(*(Text("" if cell is None else printable(str(cell))) for cell in row))
        console.print(table)
