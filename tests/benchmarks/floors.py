"""The physical limits each workload is measured against, built from the plainest tools available.

- Upload: ``cp -r`` into staging, then one request file and one ``POST /new/...`` on a raw ``http.client``
  connection with ``consume``, so the service moves the files instead of copying them again.
- Tree fetch: one ``curl --parallel`` process over the same URLs, writing into a fresh directory.
- Large fetch: ``http.client`` with 1 MiB reads into a file, and ``hashlib.md5`` of the same bytes in memory.
- Large fetch over a long round trip: ``curl -o`` (one connection) and ``aria2c -x 8 -s 8`` (several).
- Metadata: the same GETs as the SDK on one keep-alive ``http.client`` connection.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gobbler_sdk._http import fetch_url

from .settings import MIB

CURL = shutil.which("curl")
#: aria2c (Debian's ``aria2``): several connections per file, the reference for ranged downloads (l).
ARIA2C = shutil.which("aria2c")


class FloorError(RuntimeError):
    """A floor measurement did not do what it should (a broken benchmark, not a slow one)."""


def copy_tree(source: Path, destination: Path) -> None:
    """``cp -r source destination`` (``destination`` must not exist yet)."""
    subprocess.run(["cp", "-r", str(source), str(destination)], check=True)


def submit_raw(host: str, port: int, staging: Path, action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Write a request file into staging, ``POST /new/<name>`` on a fresh connection, remove the file."""
    name = f"request-{action}-{secrets.token_hex(12)}"
    path = staging / name
    path.write_bytes(json.dumps(payload).encode())
    connection = http.client.HTTPConnection(host, port, timeout=None)
    try:
        connection.request("POST", f"/new/{name}")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
        path.unlink(missing_ok=True)
    if response.status >= 300:
        raise FloorError(f"{action} answered {response.status}: {body[:300]!r}")
    answer = json.loads(body)
    return answer if isinstance(answer, dict) else {}


def upload_floor(
    host: str, port: int, staging: Path, source: Path, project: str, asset: str, version: str
) -> Path:
    """Copy ``source`` into staging with ``cp -r`` and upload it with ``consume``; returns the staged copy."""
    staged = staging / f"floor-{secrets.token_hex(8)}"
    copy_tree(source, staged)
    submit_raw(
        host,
        port,
        staging,
        "upload",
        {
            "source": staged.name,
            "project": project,
            "asset": asset,
            "version": version,
            "on_probation": False,
            "consume": True,
            "ignore_dot": True,
        },
    )
    return staged


def curl_config(base_url: str, paths: Sequence[str], output: Path) -> str:
    """A curl config file body downloading every registry path into ``output``."""
    lines = []
    for path in paths:
        lines.append(f'url = "{base_url}{fetch_url(path)}"')
        lines.append(f'output = "{output / path}"')
    return "\n".join(lines) + "\n"


def curl_parallel(config: Path, parallel: int) -> None:
    """Run one curl process over every URL of ``config`` with ``parallel`` transfers at once."""
    if CURL is None:
        raise FloorError("curl is not installed")
    subprocess.run(
        [
            CURL,
            "--silent",
            "--show-error",
            "--no-progress-meter",
            "--fail",
            "--create-dirs",
            "--parallel",
            "--parallel-max",
            str(parallel),
            "--config",
            str(config),
        ],
        check=True,
    )


def curl_output(base_url: str, path: str, destination: Path) -> None:
    """``curl -o destination`` of one registry file."""
    if CURL is None:
        raise FloorError("curl is not installed")
    url = f"{base_url}{fetch_url(path)}"
    subprocess.run([CURL, "--silent", "--show-error", "--fail", "-o", str(destination), url], check=True)


def aria2c_output(base_url: str, path: str, destination: Path, connections: int) -> None:
    """``aria2c -x N -s N`` of one registry file into ``destination`` (its defaults otherwise)."""
    if ARIA2C is None:
        raise FloorError("aria2c is not installed")
    url = f"{base_url}{fetch_url(path)}"
    subprocess.run(
        [
            ARIA2C,
            "--quiet",
            "-x",
            str(connections),
            "-s",
            str(connections),
            "--allow-overwrite=true",
            "--auto-file-renaming=false",
            "-d",
            str(destination.parent),
            "-o",
            destination.name,
            url,
        ],
        check=True,
    )


def curl_version() -> str | None:
    """First line of ``curl --version``, or ``None`` when curl is missing."""
    if CURL is None:
        return None
    result = subprocess.run([CURL, "--version"], capture_output=True, text=True, check=False)
    return result.stdout.splitlines()[0] if result.stdout else None


def http_download(host: str, port: int, path: str, destination: Path) -> int:
    """Download one registry file with ``http.client`` in 1 MiB reads into ``destination``; return bytes."""
    connection = http.client.HTTPConnection(host, port, timeout=60)
    received = 0
    try:
        connection.request("GET", fetch_url(path))
        response = connection.getresponse()
        if response.status != 200:
            raise FloorError(f"GET {path} answered {response.status}")
        with open(destination, "wb") as handle:
            while chunk := response.read(MIB):
                handle.write(chunk)
                received += len(chunk)
    finally:
        connection.close()
    return received


def md5_in_memory(data: bytes) -> str:
    """``hashlib.md5`` over ``data`` fed in 1 MiB slices (the hashing half of the fetch floor)."""
    digest = hashlib.md5()
    view = memoryview(data)
    for start in range(0, len(view), MIB):
        digest.update(view[start : start + MIB])
    return digest.hexdigest()


class KeepAlive:
    """GETs on one persistent ``http.client`` connection, reading each body in full."""

    def __init__(self, host: str, port: int) -> None:
        self.connection = http.client.HTTPConnection(host, port, timeout=60)

    def get(self, url: str) -> bytes:
        """One GET; raises :class:`FloorError` unless it answers 200."""
        self.connection.request("GET", url)
        response = self.connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise FloorError(f"GET {url} answered {response.status}")
        return body

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


def count_files(root: Path) -> int:
    """Regular files below ``root`` (to check that a fetch fetched everything)."""
    return sum(len(files) for _, _, files in os.walk(root))
