"""``python -m gobbler_sdk.testing serve``: a Gobbler service in the foreground, for manual experiments.

By default it runs the embedded service on fresh temporary staging and registry directories (removed on
exit), prints the URL, staging and registry, forwards the service's log to stderr and stops cleanly on
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .foreground import serve_in_foreground
from .service import BACKENDS, ServiceStartError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gobbler_sdk.testing", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run a Gobbler service in the foreground")
    serve.add_argument("--staging", help="staging directory (default: a temporary one)")
    serve.add_argument("--registry", help="registry directory (default: a temporary one)")
    serve.add_argument("--port", type=int, help="TCP port (default: a free one)")
    serve.add_argument("--admin", help="comma-separated administrators (default: the current user)")
    serve.add_argument("--prefix", help="endpoint prefix, without surrounding slashes")
    serve.add_argument("--backend", choices=BACKENDS, default="embedded", help="default: embedded")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m gobbler_sdk.testing``; return the exit status."""
    options = _parser().parse_args(argv)
    try:
        return serve_in_foreground(
            options.staging,
            options.registry,
            port=options.port,
            admin=options.admin,
            prefix=options.prefix,
            backend=options.backend,
        )
    except ServiceStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
