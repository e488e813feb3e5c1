"""A thin protocol-level driver for the server tests: request files, POSTs and registry reads.

It deliberately does not use the SDK client, so these tests pin the service's behaviour on their own.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gobbler_sdk.testing import GobblerService


@dataclass(frozen=True)
class Link:
    """A symlink to create in a source directory, with this exact link text."""

    target: str


# A source tree: file path -> bytes/str content, Link, or None for an empty directory.
Tree = Mapping[str, bytes | str | Link | None]


@dataclass
class Reply:
    """What the service answered."""

    status: int
    body: Any
    headers: httpx.Headers
    # The request file's path, which many reasons quote (set by Gobbler.request).
    request_path: str = ""

    @property
    def reason(self) -> str:
        return str(self.body.get("reason", "")) if isinstance(self.body, dict) else str(self.body)

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body!r})"


def md5(content: str | bytes) -> str:
    """Hex MD5 of text (UTF-8) or bytes."""
    return hashlib.md5(content.encode() if isinstance(content, str) else content).hexdigest()


def entry(content: str | bytes, link: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest entry the service records for a file with this content (and this link, if any)."""
    data = content.encode() if isinstance(content, str) else content
    out: dict[str, Any] = {"size": len(data), "md5sum": md5(data)}
    if link is not None:
        out["link"] = link
    return out


def ref(
    project: str, asset: str, version: str, path: str, ancestor: dict[str, str] | None = None
) -> dict[str, Any]:
    """A link object of a manifest or ``..links`` file."""
    out: dict[str, Any] = {"project": project, "asset": asset, "version": version, "path": path}
    if ancestor is not None:
        out["ancestor"] = ancestor
    return out


# The manifest entry of an empty directory.
EMPTY_DIR = {"size": 0, "md5sum": ""}


def me() -> str:
    """The user name the tests run as."""
    return pwd.getpwuid(os.getuid()).pw_name


def unique(prefix: str = "t") -> str:
    """A fresh name for a project, asset, version or source directory."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Gobbler:
    """Drive one running service through its staging directory and HTTP API."""

    def __init__(self, service: GobblerService) -> None:
        self.service = service
        self.url = service.url
        self.staging = Path(service.staging)
        self.registry = Path(service.registry)
        self.user = me()
        self.http = httpx.Client(base_url=self.url, timeout=120.0)

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------ requests

    def post(self, name: str) -> Reply:
        """POST ``/new/{name}`` as it is (the name is not escaped)."""
        response = self.http.post(f"/new/{name}")
        return _reply(response)

    def request(
        self,
        action: str,
        payload: Any = None,
        *,
        raw: bytes | str | None = None,
        owner: tuple[int, int] | None = None,
        keep: bool = False,
    ) -> Reply:
        """Write ``request-<action>-<random>`` with ``payload`` (or ``raw`` bytes), POST it, delete it.

        Args:
            action: Text after ``request-`` and before the random suffix.
            payload: JSON-serialisable content.
            raw: Exact file content instead of ``payload``.
            owner: ``(uid, gid)`` to chown the file to (root only).
            keep: Leave the file in staging afterwards.
        """
        name = f"request-{action}-{uuid.uuid4().hex}"
        path = self.staging / name
        data = raw if raw is not None else json.dumps(payload)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        os.chmod(path, 0o644)
        if owner is not None:
            os.chown(path, *owner)
        try:
            reply = self.post(name)
            reply.request_path = str(path)
            return reply
        finally:
            if not keep:
                path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ fixtures in the registry

    def source(self, tree: Tree, *, name: str | None = None, owner: tuple[int, int] | None = None) -> str:
        """Create a source directory directly inside staging; return its name."""
        name = name or unique("src")
        root = self.staging / name
        root.mkdir()
        for relative, content in tree.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if content is None:
                path.mkdir(exist_ok=True)
            elif isinstance(content, Link):
                os.symlink(content.target, path)
            else:
                path.write_bytes(content.encode() if isinstance(content, str) else content)
        if owner is not None:
            for dirpath, dirnames, filenames in os.walk(root):
                for entry in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
                    os.lchown(entry, *owner)
        return name

    def create_project(self, name: str | None = None, permissions: Mapping[str, Any] | None = None) -> str:
        """Create a project as the administrator; return its name."""
        name = name or unique("proj")
        payload: dict[str, Any] = {"project": name}
        if permissions is not None:
            payload["permissions"] = dict(permissions)
        reply = self.request("create_project", payload)
        assert reply.status == 200, reply
        return name

    def upload(self, project: str, asset: str, version: str, tree: Tree | str, **fields: Any) -> Reply:
        """Upload ``tree`` (or an existing source directory name) as ``project/asset/version``."""
        source = tree if isinstance(tree, str) else self.source(tree)
        payload = {"source": source, "project": project, "asset": asset, "version": version, **fields}
        return self.request("upload", payload)

    def ok_upload(self, project: str, asset: str, version: str, tree: Tree | str, **fields: Any) -> None:
        reply = self.upload(project, asset, version, tree, **fields)
        assert reply.status == 200, reply

    # ------------------------------------------------------------------ reading the registry

    def path(self, *parts: str) -> Path:
        return self.registry.joinpath(*parts)

    def read_text(self, *parts: str) -> str:
        return self.path(*parts).read_text(encoding="utf-8")

    def read_json(self, *parts: str) -> Any:
        return json.loads(self.read_text(*parts))

    def manifest(self, project: str, asset: str, version: str) -> dict[str, Any]:
        return dict(self.read_json(project, asset, version, "..manifest"))

    def summary(self, project: str, asset: str, version: str) -> dict[str, Any]:
        return dict(self.read_json(project, asset, version, "..summary"))

    def usage(self, project: str) -> int:
        return int(self.read_json(project, "..usage")["total"])

    def latest(self, project: str, asset: str) -> str | None:
        path = self.path(project, asset, "..latest")
        return json.loads(path.read_text())["version"] if path.exists() else None

    def logs(self) -> list[dict[str, Any]]:
        """Every log entry, oldest first by file name."""
        directory = self.path("..logs")
        return [json.loads((directory / n).read_text()) for n in sorted(os.listdir(directory))]

    def logs_for(self, project: str) -> list[dict[str, Any]]:
        return [entry for entry in self.logs() if entry.get("project") == project]

    def list(self, path: str | None = None, *, recursive: bool | str = False) -> Reply:
        params: dict[str, str] = {}
        if path is not None:
            params["path"] = path
        if recursive:
            params["recursive"] = "true" if recursive is True else str(recursive)
        return _reply(self.http.get("/list", params=params))


def _reply(response: httpx.Response) -> Reply:
    if response.headers.get("content-type") == "application/json":
        body: Any = response.json()
    else:
        body = response.text
    return Reply(response.status_code, body, response.headers)


# ---------------------------------------------------------------------- raw HTTP (exact request targets)


@dataclass
class RawReply:
    """A response read off a socket: status, reason phrase, headers in order, body."""

    status: int
    phrase: str
    header_list: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """First value of a header (case-insensitive), ``None`` when absent."""
        for key, value in self.header_list:
            if key.lower() == name.lower():
                return value
        return None

    def has(self, name: str) -> bool:
        return self.header(name) is not None


def send_raw(url: str, data: bytes, *, method: str = "GET", timeout: float = 10.0) -> RawReply | None:
    """Send ``data`` as-is to the host and port of ``url`` and read one response.

    Returns ``None`` when the server closes the connection without answering.
    """
    import http.client
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock, method=method)
        try:
            response.begin()
        except http.client.RemoteDisconnected:
            return None
        body = response.read()
        return RawReply(response.status, response.reason, list(response.getheaders()), body)


def raw_request(
    url: str,
    method: str,
    target: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> RawReply:
    """Send one HTTP/1.1 request with this exact request target (no normalisation, no escaping)."""
    lines = [f"{method} {target} HTTP/1.1", "Host: gobbler", "Connection: close"]
    lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    reply = send_raw(url, data, method=method)
    assert reply is not None, f"no response to {method} {target}"
    return reply
