"""Running the browser application with uvicorn on a socket of our own (so port 0 can be announced)."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .. import GobblerClient

__all__ = ["LOOPBACK", "bind", "serve", "url_of"]

#: Where the server listens unless told otherwise: this machine only.
LOOPBACK = "127.0.0.1"


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (``0``: a free port).

    Raises:
        OSError: When the address cannot be bound (in use, unknown host).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    """The ``http://`` URL a bound socket answers on."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(
    client: GobblerClient,
    *,
    host: str = LOOPBACK,
    port: int = 8765,
    announce: Callable[[str], None] | None = None,
    log_level: str = "warning",
) -> None:
    """Serve the browser over ``client``'s registry until interrupted (Ctrl-C or SIGTERM), then return.

    Args:
        client: The client whose registry is shown.
        host: Address to listen on; ``127.0.0.1`` keeps the pages to this machine.
        port: TCP port; ``0`` picks a free one.
        announce: Called with the URL once the socket is bound, before requests are served.
        log_level: uvicorn's log level (``"info"`` logs every request).

    Raises:
        OSError: When the address cannot be bound.
    """
    import uvicorn

    from .app import create_app

    sock = bind(host, port)
    wildcard = host in ("0.0.0.0", "::", "")
    hosts = ["*"] if wildcard else ["127.0.0.1", "localhost", "[::1]", f"[{host}]" if ":" in host else host]
    app = create_app(client, allowed_hosts=hosts)
    config = uvicorn.Config(app, log_level=log_level, lifespan="on", access_log=log_level == "info")
    server = uvicorn.Server(config)
    if announce is not None:
        announce(url_of(sock))
    # uvicorn shuts down gracefully on SIGINT or SIGTERM and then raises the signal again; both are the
    # normal way to stop a server, so they end this function instead of the process.
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stopped) if main else None
    try:
        server.run(sockets=[sock])
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
        sock.close()


class _Stopped(Exception):
    """SIGTERM arrived."""


def _stopped(signum: int, frame: object) -> None:
    raise _Stopped
