"""Command line of the embedded service, accepting the reference's flag spellings (section 2).

``-name value``, ``-name=value``, ``--name value`` and ``--name=value`` all work, so one argument list
starts either implementation. Exit status 2 for an unknown flag or a bad integer, 1 for a missing
staging/registry or a fatal start-up error, as in the reference.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Sequence

from . import paths
from .config import ServerConfig, SpoofTable, load_spoof_table, load_whitelist
from .runner import EmbeddedServer

__all__ = ["ConfigError", "UsageError", "go_int", "main", "parse_args"]

_FLAGS = {
    "staging": "path to the staging directory (required)",
    "registry": "path to the registry directory (required)",
    "admin": "comma-separated user names of administrators",
    "port": "port to listen on (default 8080)",
    "prefix": "prefix for every endpoint but OPTIONS, without surrounding slashes",
    "whitelist": "file listing directories whose files may be linked",
    "spoof": "file of spoofing permissions",
    "probation": "lifetime of probational versions in days; negative disables the purge (default -1)",
    "concurrency": "number of workers for hashing and copying (default 100)",
    "host": "address to bind (default 127.0.0.1; the reference binds every interface)",
}
_INTS = {"port", "probation", "concurrency"}


class UsageError(Exception):
    """Bad command line (usage is printed); carries the exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ConfigError(Exception):
    """A fatal start-up problem with a valid command line (exit status 1, no usage text)."""


def _usage() -> str:
    lines = ["Usage: python -m gobbler_sdk.server -staging DIR -registry DIR [flags]"]
    lines += [f"  -{name}\n    \t{text}" for name, text in _FLAGS.items()]
    return "\n".join(lines)


def _underscores_ok(text: str) -> bool:
    """Go's rule for ``_`` in base-0 integers: only between digits (a base prefix counts as a digit)."""
    body = text[1:] if text[:1] in "+-" else text
    saw = "^"
    index = 0
    hexadecimal = False
    if len(body) >= 2 and body[0] == "0" and body[1].lower() in "box":
        index, saw, hexadecimal = 2, "0", body[1].lower() == "x"
    for char in body[index:]:
        if char.isdigit() or (hexadecimal and char.lower() in "abcdef"):
            saw = "0"
        elif char == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


def go_int(text: str) -> int:
    """Parse an integer flag like Go's ``strconv.ParseInt(text, 0, 64)``.

    Accepts a sign, ``0x``/``0o``/``0b`` prefixes, a leading ``0`` for octal and ``_`` separators.

    Raises:
        ValueError: ``parse error`` or ``value out of range``, the ``flag`` package's words.
    """
    body = text[1:] if text[:1] in "+-" else text
    negative = text.startswith("-")
    base = 10
    if body[:2].lower() in ("0x", "0o", "0b"):
        base = {"x": 16, "o": 8, "b": 2}[body[1].lower()]
        body = body[2:]
    elif len(body) > 1 and body[0] == "0":
        base = 8
        body = body[1:]
    if "_" in body or "_" in text:
        if not _underscores_ok(text):
            raise ValueError("parse error")
        body = body.replace("_", "")
    digits = "0123456789abcdef"[:base]
    if body == "" or any(char.lower() not in digits for char in body):
        raise ValueError("parse error")
    value = int(body, base) * (-1 if negative else 1)
    if not -(1 << 63) <= value < (1 << 63):
        raise ValueError("value out of range")
    return value


def _read_text(path: str) -> str:
    """A configuration file's content; bytes that are not UTF-8 survive as surrogate escapes."""
    with open(path, "rb") as handle:
        return os.fsdecode(handle.read())


def parse_args(argv: Sequence[str]) -> ServerConfig:
    """Turn command-line arguments into a :class:`ServerConfig`, loading whitelist and spoof files.

    Parsing follows Go's ``flag`` package: ``-name value``, ``-name=value`` and the same with two dashes;
    parsing stops at the first non-flag argument or after ``--``; a repeated flag keeps its last value.

    Raises:
        UsageError: With exit status 0 (``-h``), 2 (bad flag or integer) or 1 (missing directory, bad
            file).
    """
    values: dict[str, str] = {}
    args = list(argv)
    while args:
        arg = args[0]
        if len(arg) < 2 or arg[0] != "-":
            break
        dashes = 2 if arg[1] == "-" else 1
        if arg == "--":
            break
        args.pop(0)
        name = arg[dashes:]
        if name == "" or name[0] in "-=":
            raise UsageError(f"bad flag syntax: {arg}", 2)
        name, has_value, value = name.partition("=")
        if name not in _FLAGS:
            if name in ("h", "help"):
                raise UsageError("", 0)
            raise UsageError(f"flag provided but not defined: -{name}", 2)
        if not has_value:
            if not args:
                raise UsageError(f"flag needs an argument: -{name}", 2)
            value = args.pop(0)
        if name in _INTS:
            try:
                go_int(value)
            except ValueError as exc:
                raise UsageError(f'invalid value "{value}" for flag -{name}: {exc}', 2) from None
        values[name] = value

    staging = values.get("staging", "")
    registry = values.get("registry", "")
    if not staging or not registry:
        raise UsageError("", 1)
    whitelist: tuple[str, ...] = ()
    spoof = SpoofTable()
    try:
        if values.get("whitelist"):
            whitelist = load_whitelist(_read_text(values["whitelist"]))
        if values.get("spoof"):
            spoof = load_spoof_table(_read_text(values["spoof"]))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"failed to load a configuration file; {exc}") from exc

    admin = values.get("admin", "")
    config = ServerConfig(
        staging=paths.clean(staging),
        registry=paths.clean(registry),
        admins=tuple(admin.split(",")) if admin else (),
        prefix=values.get("prefix", ""),
        whitelist=whitelist,
        spoof=spoof,
        probation_days=go_int(values.get("probation", "-1")),
        concurrency=go_int(values.get("concurrency", "100")),
        host=values.get("host", "127.0.0.1"),
        port=go_int(values.get("port", "8080")),
    )
    if config.concurrency < 1:
        # The reference would hang on the first file with 0 workers; refuse to start instead.
        raise ConfigError("-concurrency must be at least 1")
    return config


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the service in the foreground until interrupted; return the exit status."""
    signal.signal(signal.SIGINT, _interrupt)  # also when started with SIGINT ignored (background jobs)
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        # Like Go's flag package, usage goes to standard error even for -h.
        if str(exc):
            print(str(exc), file=sys.stderr)
        print(_usage(), file=sys.stderr)
        return exc.status
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    try:
        # Reads are served by processes of their own (one per CPU, at most 4) beside the one running actions.
        server = EmbeddedServer(config, read_processes=min(os.cpu_count() or 1, 4))
    except (OSError, OverflowError) as exc:
        # OverflowError: a port outside 0-65535, which Go reports as a failure to listen.
        print(f"failed to start the service; {exc}", file=sys.stderr)
        return 1
    logging.getLogger("gobbler_sdk.server").info(
        "listening on http://%s:%d/%s", config.host, server.port, config.prefix
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
