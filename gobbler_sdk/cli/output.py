"""What the command line writes: tables and lines for people, one JSON document for scripts.

In JSON mode (``--json``) each command writes exactly one JSON document to standard output and nothing
else; a failure writes ``{"error": {...}}`` there instead. Messages, prompts and progress always go to
standard error, so they never mix with results. ``rich`` is imported only when a table is drawn.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

__all__ = ["Output", "human_size", "timestamp"]

# Wide enough that tables piped into a file or another program are never truncated or wrapped.
_PIPE_WIDTH = 400


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
        """Write one line of results to standard output."""
        sys.stdout.write(text + "\n")

    def note(self, text: str) -> None:
        """Write an informational one-line message to standard error, unless quiet."""
        if not self.quiet:
            sys.stderr.write(f"{text}\n")

    def error(self, text: str) -> None:
        """Write an error message to standard error as a single line."""
        sys.stderr.write("gobbler-sdk: error: " + " ".join(text.split()) + "\n")
        sys.stderr.flush()

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
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD if terminal else None)
        for column in columns:
            table.add_column(column, justify="right" if column in right else "left", overflow="fold")
        for row in rows:
            # Text cells: names like "[x].txt" must not be read as rich markup.
            table.add_row(*(Text("" if cell is None else str(cell)) for cell in row))
        console.print(table)
