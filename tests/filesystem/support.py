"""A counting TCP proxy on loopback: what the service really sent, and which requests reached it.

It forwards bytes unchanged in both directions, so the client sees the service itself (keep-alive, ranges
and all) while the test learns how many bytes the service sent back and the request line of every request.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

_REQUEST_LINE = re.compile(rb"(GET|POST|HEAD|PUT|DELETE) (\S+) HTTP/1\.[01]\r\n")


class CountingProxy:
    """Forward 127.0.0.1:<port> to ``upstream`` (``http://host:port``), counting what flows back."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._sockets: list[socket.socket] = []
        self.sent = 0
        self.requests: list[str] = []
        self._thread = threading.Thread(target=self._accept, name="counting-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def reset(self) -> None:
        with self._lock:
            self.sent = 0
            self.requests = []

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                downstream, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self._upstream, timeout=30)
            with self._lock:
                self._sockets += [downstream, upstream]
            threading.Thread(
                target=self._pump, args=(downstream, upstream, self._saw_request), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(upstream, downstream, self._saw_answer), daemon=True
            ).start()

    def _saw_request(self, data: bytes) -> None:
        with self._lock:
            self.requests += [match.group(2).decode() for match in _REQUEST_LINE.finditer(data)]

    def _saw_answer(self, data: bytes) -> None:
        with self._lock:
            self.sent += len(data)

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket, seen: Callable[[bytes], None]) -> None:
        try:
            while data := source.recv(1 << 16):
                seen(data)
                target.sendall(data)
        except OSError:
            pass
        finally:
            for each in (source, target):
                with contextlib.suppress(OSError):
                    each.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closing.set()
        self._listener.close()
        self._thread.join(timeout=5)
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for each in sockets:
            each.close()

    def __enter__(self) -> CountingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
