"""``serve``: a Gobbler service in the foreground (the embedded one unless told otherwise).

This is :func:`gobbler_sdk.testing.serve_in_foreground` under the main command: temporary staging and registry
unless given (removed on exit), the URL and directories printed, the service's log on standard error, a
clean stop on Ctrl-C or SIGTERM. ``make serve`` runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import exitcodes
from .app import app
from .output import Output

__all__: list[str] = []


@app.command("serve")
def serve(
    ctx: typer.Context,
    staging: Annotated[
        Path | None, typer.Option("--staging", help="Staging directory (default: a temporary one).")
    ] = None,
    registry: Annotated[
        Path | None, typer.Option("--registry", help="Registry directory (default: a temporary one).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="TCP port (default: a free one).", metavar="PORT"),
    ] = None,
    admin: Annotated[
        str | None,
        typer.Option("--admin", help="Comma-separated administrators (default: you).", metavar="U,..."),
    ] = None,
    prefix: Annotated[str | None, typer.Option("--prefix", help="Endpoint prefix, without slashes.")] = None,
    backend: Annotated[
        str, typer.Option("--backend", help="embedded, binary (GOBBLER_BINARY or a release) or auto.")
    ] = "embedded",
) -> None:
    """Run a Gobbler service in the foreground until Ctrl-C (prints its URL, staging and registry)."""
    from ..testing import BACKENDS, ServiceStartError, serve_in_foreground

    if backend not in BACKENDS:
        raise typer.BadParameter(f"must be one of {', '.join(BACKENDS)}", param_hint="--backend")
    try:
        status = serve_in_foreground(
            staging, registry, port=port, admin=admin, prefix=prefix, backend=backend
        )
    except ServiceStartError as exc:
        # Its message carries the service's log, which may span lines: one line here, as every failure.
        Output().error(f"the service did not start: {exc}")
        raise typer.Exit(exitcodes.FAILURE) from None
    raise typer.Exit(status)
