"""Helpers for the tests of ``gobbler_sdk.testing``: a fake release host, fake executables, process checks."""

from __future__ import annotations

import os
import shlex
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def fake_gobbler_script() -> bytes:
    """A stand-in "release": a shell script that runs the embedded service with the same arguments."""
    return f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m gobbler_sdk.server "$@"\n'.encode()


def write_script(path: Path, body: str) -> Path:
    """Write an executable shell script."""
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def process_gone(pid: int, timeout: float = 5.0) -> bool:
    """Whether ``pid`` no longer runs (an unreaped zombie counts as gone), waiting up to ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except (OSError, IndexError):
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


class ReleaseServer:
    """A tiny HTTP server on 127.0.0.1 playing the release host.

    ``files`` maps URL paths to bodies; ``redirects`` maps URL paths to other paths (302). With
    ``pause_after`` set, a body is sent up to that many bytes, then the server waits for ``resume``
    (``paused`` is set meanwhile). With ``truncate_after`` set, the connection is closed after that many
    bytes although the full length was announced.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        self.requests: list[str] = []
        self.pause_after: int | None = None
        self.truncate_after: int | None = None
        self.paused = threading.Event()
        self.resume = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests.append(self.path)
                if self.path in owner.redirects:
                    self.send_response(302)
                    self.send_header("Location", owner.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = owner.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if owner.truncate_after is not None:
                    self.wfile.write(body[: owner.truncate_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if owner.pause_after is not None:
                    self.wfile.write(body[: owner.pause_after])
                    self.wfile.flush()
                    owner.paused.set()
                    owner.resume.wait(30)
                    body = body[owner.pause_after :]
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ReleaseServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.resume.set()
        self.httpd.shutdown()
        self.httpd.server_close()
