"""Helpers for the client tests: source trees, and a small HTTP server that lies (or proxies and counts).

The lying server answers each request path with queued :class:`Answer` objects (the last one repeats), so
a test can script hostile listings, truncated or wrong downloads, transient 503s and dropped connections.
Paths it has no answer for are forwarded to an upstream Gobbler service when one is given (a counting
proxy), else answered like the service's file server: 404 ``404 page not found`` (but an unscripted
``GET /info`` answers like a Gobbler service, with nonexistent directories). Every request is logged,
and for ``POST /new/<name>`` the request file is read from staging before forwarding, so tests can assert
the exact JSON the client sent even though the client deletes the file afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

EXCLUDED_USER = "excluded-user"


def me() -> str:
    """The user name the tests run as."""
    return pwd.getpwuid(os.getuid()).pw_name


def unique(prefix: str = "t") -> str:
    """A fresh project, asset or version name."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Link:
    """A symlink to create in a tree, with this exact link text."""

    target: str


# A tree: relative path -> file content, Link, or None for an empty directory.
Tree = Mapping[str, bytes | str | Link | None]


def make_tree(root: Path, tree: Tree) -> Path:
    """Create ``tree`` below ``root`` (created if needed); return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for relative, content in tree.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            path.mkdir(exist_ok=True)
        elif isinstance(content, Link):
            os.symlink(content.target, path)
        else:
            path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def snapshot(directory: Path) -> set[str]:
    """Every path below ``directory`` (relative, without following symlinks)."""
    found: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in dirnames + filenames:
            found.add(os.path.relpath(os.path.join(dirpath, name), directory))
    return found


def request_files(staging: Path) -> list[str]:
    """Request files left in staging."""
    return sorted(name for name in os.listdir(staging) if name.startswith("request-"))


@dataclass
class Answer:
    """One scripted HTTP answer.

    Attributes:
        status: HTTP status code.
        body: Bytes or text sent as they are; anything else is sent as JSON.
        content_type: ``Content-Type``; JSON bodies default to ``application/json``, others to text.
        length: ``Content-Length`` to announce (a lie when it differs from the body); ``None`` = honest.
        no_length: Send no ``Content-Length`` and close after the body (the body ends at EOF).
        drop: Close the connection without answering at all.
        delay: Seconds to wait before answering.
        drip: Send the whole answer (status line and headers included) ``drip_size`` bytes at a time,
            waiting ``drip`` seconds between pieces.
        drip_size: Bytes per piece when dripping.
        endless: Send ``body`` over and over with no ``Content-Length`` (closing after ``endless_limit``
            bytes, or when the client hangs up).
        endless_limit: Bytes an endless body stops at, so a broken client cannot keep the server busy.
        headers: Extra headers (``Content-Range``, say); an endless body also announces ``length`` when
            it is set.
    """

    status: int = 200
    body: Any = b""
    content_type: str | None = None
    length: int | None = None
    no_length: bool = False
    drop: bool = False
    delay: float = 0.0
    drip: float = 0.0
    drip_size: int = 1
    endless: bool = False
    endless_limit: int = 1 << 30
    headers: Mapping[str, str] | None = None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LyingServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that gave up (time-outs) leave broken pipes behind; that is the point of those tests.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without this, Nagle plus delayed ACKs cost 40 ms a request.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.owner._handle(self, "GET")

    def do_HEAD(self) -> None:
        self.server.owner._handle(self, "HEAD")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.owner._handle(self, "POST")


class LyingServer:
    """A scripted HTTP server on 127.0.0.1, optionally proxying everything unscripted to ``upstream``.

    Args:
        upstream: URL of a real service to forward unscripted requests to.
        staging: Staging directory, to record request files at POST time.
    """

    def __init__(self, upstream: str | None = None, staging: Path | None = None) -> None:
        self.upstream = httpx.Client(base_url=upstream, timeout=60.0) if upstream else None
        self.staging = staging
        self.requests: list[tuple[str, str]] = []
        #: Body bytes handed to the socket by endless answers (what a client let through before hanging up).
        self.endless_sent = 0
        #: ``Range`` header of each forwarded request (``None`` without one) and the body bytes forwarded.
        self.forwarded_ranges: list[str | None] = []
        self.forwarded_bytes = 0
        self.posted: list[tuple[str, Any]] = []
        self._answers: dict[tuple[str, str], list[Answer]] = {}
        self._prefixed: dict[tuple[str, str], list[Answer]] = {}
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, path: str, *answers: Answer, method: str = "GET") -> None:
        """Script the answers to ``path`` (exact, with query string); the last one repeats."""
        with self._lock:
            self._answers[(method, path)] = list(answers)

    def answer_prefix(self, prefix: str, *answers: Answer, method: str = "GET") -> None:
        """Script the answers to every path starting with ``prefix`` that has no exact script."""
        with self._lock:
            self._prefixed[(method, prefix)] = list(answers)

    def json(self, path: str, body: Any, status: int = 200) -> None:
        """Script a JSON answer."""
        self.answer(path, Answer(status, body))

    def count(self, path: str, method: str = "GET") -> int:
        """How many requests reached ``path``."""
        with self._lock:
            return sum(1 for m, p in self.requests if m == method and p == path)

    def paths(self, prefix: str = "", method: str = "GET") -> list[str]:
        """Paths requested with ``method`` that start with ``prefix``, in arrival order."""
        with self._lock:
            return [p for m, p in self.requests if m == method and p.startswith(prefix)]

    def reset(self) -> None:
        """Forget the request log."""
        with self._lock:
            self.requests.clear()
            self.posted.clear()
            self.forwarded_ranges.clear()
            self.forwarded_bytes = 0

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        if self.upstream is not None:
            self.upstream.close()

    def __enter__(self) -> LyingServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ serving

    def _next_answer(self, method: str, path: str) -> Answer | None:
        with self._lock:
            self.requests.append((method, path))
            queue = self._answers.get((method, path))
            if queue is None:
                queue = next(
                    (q for (m, p), q in self._prefixed.items() if m == method and path.startswith(p)), None
                )
            if not queue:
                return None
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def _handle(self, handler: _Handler, method: str) -> None:
        path = handler.path
        if method == "POST" and path.startswith("/new/") and self.staging is not None:
            self._record_request(path[len("/new/") :])
        answer = self._next_answer(method, path)
        if answer is None:
            if self.upstream is not None:
                self._forward(handler, method, path)
                return
            if method == "GET" and path == "/info":
                # It plays a Gobbler service, which the client checks before it believes a 404.
                staging = str(self.staging) if self.staging is not None else "/nonexistent/staging"
                answer = Answer(200, {"staging": staging, "registry": "/nonexistent/registry"})
            else:
                answer = Answer(404, "404 page not found\n")
        if answer.delay:
            time.sleep(answer.delay)
        if answer.drop:
            handler.close_connection = True
            return
        try:
            if answer.drip:
                self._drip(handler, answer)
            elif answer.endless:
                self._endless(handler, answer, self._count_sent)
            else:
                self._send(handler, answer, method)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True

    @staticmethod
    def _raw(answer: Answer) -> bytes:
        body = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
        extra = "".join(f"{name}: {value}\r\n" for name, value in (answer.headers or {}).items())
        head = (
            f"HTTP/1.1 {answer.status} X\r\nContent-Type: {answer.content_type or 'application/json'}\r\n"
            f"{extra}Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    @staticmethod
    def _drip(handler: _Handler, answer: Answer) -> None:
        raw = LyingServer._raw(answer)
        handler.close_connection = True
        for start in range(0, len(raw), answer.drip_size):
            handler.wfile.write(raw[start : start + answer.drip_size])
            handler.wfile.flush()
            time.sleep(answer.drip)

    def _count_sent(self, count: int) -> None:
        with self._lock:
            self.endless_sent += count

    @staticmethod
    def _endless(handler: _Handler, answer: Answer, count: Callable[[int], None]) -> None:
        piece = answer.body if isinstance(answer.body, bytes) else str(answer.body).encode()
        handler.close_connection = True
        extra = dict(answer.headers or {})
        if answer.length is not None:
            extra["Content-Length"] = str(answer.length)
        lines = "".join(f"{name}: {value}\r\n" for name, value in extra.items())
        handler.wfile.write(
            f"HTTP/1.1 {answer.status} OK\r\nContent-Type: {answer.content_type or 'application/json'}\r\n"
            f"{lines}Connection: close\r\n\r\n".encode()
        )
        sent = 0
        while sent < answer.endless_limit:
            handler.wfile.write(piece)
            sent += len(piece)
            count(len(piece))

    def _record_request(self, name: str) -> None:
        assert self.staging is not None
        try:
            content = (self.staging / name).read_bytes()
        except OSError:
            return
        with self._lock:
            self.posted.append((name, json.loads(content)))

    def _forward(self, handler: _Handler, method: str, path: str) -> None:
        assert self.upstream is not None
        asked = handler.headers.get("Range")
        response = self.upstream.request(
            "GET" if method == "HEAD" else method, path, headers={"Range": asked} if asked else None
        )
        passed = (
            {"Content-Range": response.headers["content-range"]}
            if "content-range" in response.headers
            else {}
        )
        answer = Answer(
            response.status_code,
            response.content,
            response.headers.get("content-type", "text/plain"),
            headers=passed or None,
        )
        with self._lock:
            self.forwarded_ranges.append(asked)
            self.forwarded_bytes += len(response.content)
        self._send(handler, answer, method)

    @staticmethod
    def _send(handler: _Handler, answer: Answer, method: str) -> None:
        body = answer.body
        content_type = answer.content_type
        if isinstance(body, str):
            body = body.encode()
            content_type = content_type or "text/plain; charset=utf-8"
        elif not isinstance(body, bytes):
            body = json.dumps(body).encode()
            content_type = content_type or "application/json"
        handler.send_response(answer.status)
        handler.send_header("Content-Type", content_type or "application/octet-stream")
        for name, value in (answer.headers or {}).items():
            handler.send_header(name, value)
        if answer.no_length:
            handler.send_header("Connection", "close")
            handler.close_connection = True
        else:
            handler.send_header(
                "Content-Length", str(answer.length if answer.length is not None else len(body))
            )
            if answer.length is not None and answer.length != len(body):
                handler.close_connection = True
        handler.end_headers()
        if method != "HEAD":
            handler.wfile.write(body)
        handler.wfile.flush()


def in_thread(function: Callable[[], T]) -> T:
    """``function()`` run on a thread of its own; its result, or its exception raised here.

    For asyncio code in tests: the main thread may already hold a running event loop, since Playwright's
    sync API (the browser tests, in the same xdist worker) keeps one there for the whole session, and
    ``asyncio.run`` refuses to start beside it.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="test-asyncio")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coroutine)`` on a thread of its own (see :func:`in_thread`)."""
    return in_thread(lambda: asyncio.run(coroutine))


def as_account(uid: int, action: Callable[[], Any]) -> dict[str, Any]:
    """Run ``action`` in a forked child as account ``uid`` (root only); what it returned, or what it raised.

    The answer comes back as JSON: ``{"value": ...}``, or ``{"error": name, "message": ..., "mro": [...]}``
    (the exception's class names, so the parent can judge its family).
    """
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(reading)
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            result = {"value": action()}
        except BaseException as exc:  # everything is reported to the parent, which judges it
            result = {
                "error": type(exc).__name__,
                "message": str(exc),
                "mro": [c.__name__ for c in type(exc).__mro__],
            }
        with os.fdopen(writing, "w") as out:
            json.dump(result, out)
        os._exit(0)
    os.close(writing)
    with os.fdopen(reading) as answer:
        text = answer.read()
    os.waitpid(child, 0)
    return dict(json.loads(text))
