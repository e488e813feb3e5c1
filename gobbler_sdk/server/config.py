"""Service configuration: command-line values plus the parsed whitelist and spoof files (section 12)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from . import paths

__all__ = ["ServerConfig", "SpoofTable", "load_spoof_table", "load_whitelist", "split_lines"]


def split_lines(text: str) -> list[str]:
    r"""Split a configuration file into lines as Go's ``bufio.Scanner`` does.

    Lines end at ``\n``; one trailing ``\r`` is dropped from each; a final newline does not start an
    extra, empty line (but an empty line before it is kept, and is an error for both file kinds).
    """
    pieces = text.split("\n")
    if pieces and pieces[-1] == "":
        pieces.pop()
    return [piece[:-1] if piece.endswith("\r") else piece for piece in pieces]


@dataclass(frozen=True)
class SpoofTable:
    """Who may act as whom (the service's spoofing permissions).

    Attributes:
        rules: For each spoofer, ``(anyone, allowed, excluded)``.
    """

    rules: Mapping[str, tuple[bool, frozenset[str], frozenset[str]]] = field(default_factory=dict)

    def allows(self, spoofer: str, target: str) -> bool:
        """Whether ``spoofer`` may act as ``target``.

        With ``*`` the exclusions alone decide (``*,alice,-alice`` refuses ``alice``, as the reference
        does); without it only the explicitly listed users are allowed and exclusions are irrelevant.
        """
        rule = self.rules.get(spoofer)
        if rule is None:
            return False
        anyone, allowed, excluded = rule
        if anyone:
            return target not in excluded
        return target in allowed


def load_spoof_table(text: str) -> SpoofTable:
    """Parse a spoof file; every line is ``spoofer:entry,entry,...``.

    Raises:
        ValueError: On a line that does not split into exactly two parts on ``:`` (blank lines included).
    """
    rules: dict[str, tuple[bool, frozenset[str], frozenset[str]]] = {}
    for number, line in enumerate(split_lines(text), start=1):
        parts = line.split(":")
        if len(parts) != 2:
            raise ValueError(f"line {number} of the spoofing file should be 'spoofer:entries'")
        spoofer, entries = parts
        if entries == "":
            continue
        anyone = False
        allowed: set[str] = set()
        excluded: set[str] = set()
        for entry in entries.split(","):
            if entry == "*":
                anyone = True
            elif entry.startswith("-"):
                excluded.add(entry[1:])
            else:
                allowed.add(entry)
        rules[spoofer] = (anyone, frozenset(allowed), frozenset(excluded))
    return SpoofTable(rules)


def load_whitelist(text: str) -> tuple[str, ...]:
    """Parse a link whitelist: one absolute directory per line, lexically cleaned.

    Raises:
        ValueError: On a line that is not absolute after cleaning (blank lines included).
    """
    out = []
    for number, line in enumerate(split_lines(text), start=1):
        cleaned = paths.clean(line)
        if not cleaned.startswith("/"):
            raise ValueError(f"line {number} of the whitelist should be an absolute path, got {line!r}")
        out.append(cleaned)
    return tuple(out)


@dataclass(frozen=True)
class ServerConfig:
    """Everything the service needs to run.

    Attributes:
        staging: Staging directory, lexically cleaned but not made absolute.
        registry: Registry directory, cleaned the same way.
        admins: Administrator user names.
        prefix: Extra leading path of every endpoint but ``OPTIONS`` (no surrounding slashes).
        whitelist: Directories whose files may be linked from uploads.
        spoof: Spoofing permissions.
        probation_days: Lifetime of probational versions; negative disables the purge.
        concurrency: Size of the worker pool for hashing and copying.
        host: Address to bind.
        port: TCP port to bind (0 picks a free one).
    """

    staging: str
    registry: str
    admins: tuple[str, ...] = ()
    prefix: str = ""
    whitelist: tuple[str, ...] = ()
    spoof: SpoofTable = field(default_factory=SpoofTable)
    probation_days: int = -1
    concurrency: int = 100
    host: str = "127.0.0.1"
    port: int = 8080
