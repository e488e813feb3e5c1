"""Command line of the embedded service, accepting the reference's flag spellings (section 2).

``-name value``, ``-name=value``, ``--name value`` and ``--name=value`` all work, so one argument list
starts either implementation. Exit status 2 for an unknown flag or a bad integer, 1 for a missing
staging/registry or a fatal start-up error, as in the reference.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Sequence

from . import paths
from .config import ServerConfig, load_spoof_table, load_whitelist
from .runner import EmbeddedServer

__all__ = ["main", "parse_args"]

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
    """Bad command line; carries the exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _usage() -> str:
    lines = ["Usage: python -m gobbler_sdk.server -staging DIR -registry DIR [flags]"]
    lines += [f"  -{name}\n    \t{text}" for name, text in _FLAGS.items()]
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> ServerConfig:
    """Turn command-line arguments into a :class:`ServerConfig`, loading whitelist and spoof files.

    Raises:
        UsageError: With exit status 2 (bad flag or integer) or 1 (missing directory, bad file).
    """
    values: dict[str, str] = {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--":
            break
        if not arg.startswith("-") or arg == "-":
            break
        name = arg.lstrip("-")
        if arg.startswith("---") or name == "":
            raise UsageError(f"bad flag syntax: {arg}", 2)
        name, has_value, value = name.partition("=")
        if name in ("h", "help"):
            raise UsageError("", 0)
        if name not in _FLAGS:
            raise UsageError(f"flag provided but not defined: -{name}", 2)
        if not has_value:
            if not args:
                raise UsageError(f"flag needs an argument: -{name}", 2)
            value = args.pop(0)
        if name in _INTS:
            try:
                int(value, 0)
            except ValueError:
                raise UsageError(f'invalid value "{value}" for flag -{name}: parse error', 2) from None
        values[name] = value

    staging = values.get("staging", "")
    registry = values.get("registry", "")
    if not staging or not registry:
        raise UsageError("missing -staging or -registry", 1)
    whitelist: tuple[str, ...] = ()
    spoof = None
    try:
        if values.get("whitelist"):
            with open(values["whitelist"], encoding="utf-8") as handle:
                whitelist = load_whitelist(handle.read())
        if values.get("spoof"):
            with open(values["spoof"], encoding="utf-8") as handle:
                spoof = load_spoof_table(handle.read())
    except (OSError, ValueError) as exc:
        raise UsageError(f"failed to load a configuration file; {exc}", 1) from exc

    admin = values.get("admin", "")
    config = ServerConfig(
        staging=paths.clean(staging),
        registry=paths.clean(registry),
        admins=tuple(admin.split(",")) if admin else (),
        prefix=values.get("prefix", ""),
        whitelist=whitelist,
        probation_days=int(values.get("probation", "-1"), 0),
        concurrency=int(values.get("concurrency", "100"), 0),
        host=values.get("host", "127.0.0.1"),
        port=int(values.get("port", "8080"), 0),
    )
    if spoof is not None:
        from dataclasses import replace

        config = replace(config, spoof=spoof)
    if config.concurrency < 1:
        raise UsageError("-concurrency must be at least 1", 1)
    return config


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the service in the foreground until interrupted; return the exit status."""
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        stream = sys.stdout if exc.status == 0 else sys.stderr
        if str(exc):
            print(str(exc), file=stream)
        print(_usage(), file=stream)
        return exc.status
    try:
        server = EmbeddedServer(config)
    except OSError as exc:
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
