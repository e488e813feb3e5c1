"""``browse``: the registry in a web browser (a read-only web interface, :mod:`gobbler_sdk.browser`).

The module defines the command's function only; :mod:`gobbler_sdk.cli.app` registers it. It needs the
``browse`` extra (Starlette, Jinja2, uvicorn).
"""

from __future__ import annotations

import sys
import threading
import webbrowser
from typing import Annotated

import typer

__all__ = ["browse"]

_EXTRA = "gobbler-sdk browse needs the 'browse' extra: pip install 'gobbler-sdk[browse]'"


def browse(
    ctx: typer.Context,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port (0: a free one).")] = 8765,
    host: Annotated[
        str,
        typer.Option("--host", help="Address to listen on. The default keeps the pages to this machine."),
    ] = "127.0.0.1",
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the pages in the default web browser once serving.")
    ] = False,
) -> None:
    """Serve a read-only web interface over the registry (projects, versions, files, previews, diffs).

    Uses the same registry and transport as every other command (--url, --registry, --transport). Stop
    it with Ctrl-C.
    """
    from .app import settings_of, usage_error

    try:
        from ..browser import serve
    except ImportError as exc:
        raise usage_error(f"{_EXTRA} ({exc})") from None
    settings = settings_of(ctx)
    client = settings.client()
    output = settings.output

    def announce(url: str) -> None:
        reach = (
            "this machine only"
            if host in ("127.0.0.1", "localhost", "::1")
            else f"{host}: other machines may reach it"
        )
        # The URL goes to standard output (scripts read it); the rest is a message on standard error.
        sys.stdout.write(f"{url}\n")
        sys.stdout.flush()
        output.note(
            f"gobbler-sdk browse: serving {client.url} read-only at {url} (bound to {reach}); Ctrl-C stops"
        )
        if open_browser:
            threading.Timer(0.5, webbrowser.open, args=(url,)).start()

    try:
        serve(
            client,
            host=host,
            port=port,
            announce=announce,
            log_level="info" if settings.verbose else "warning",
        )
    except OSError as exc:
        raise usage_error(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
