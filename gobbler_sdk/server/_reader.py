"""A reader process of the embedded service: serves every request but ``POST`` (see :mod:`.http`).

Started by :meth:`GobblerHTTPServer.start_readers` as ``python -m gobbler_sdk.server._reader LISTEN PEER
REGISTRY STAGING PREFIX`` with two inherited descriptors: the listening socket and this process's end of
the Unix socket pair to the main process. It exits when the main process closes its end.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
from collections.abc import Sequence

from .config import ServerConfig
from .http import GobblerHTTPServer
from .service import Service


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until the main process goes away; return the exit status."""
    # Ctrl-C reaches the whole process group; the main process decides when the service ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    listen_fd, peer_fd, registry, staging, prefix = sys.argv[1:] if argv is None else argv
    listening = socket.socket(fileno=int(listen_fd))
    peer = socket.socket(fileno=int(peer_fd))
    service = Service(ServerConfig(staging=staging, registry=registry, prefix=prefix))
    server = GobblerHTTPServer(("", 0), service, listening=listening, action_workers=0)
    server.add_peer(peer, takes_posts=True, ready=True)
    server.announce_ready()
    try:
        server.serve_forever(poll_interval=1.0)
    finally:
        server.server_close()
        service.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
