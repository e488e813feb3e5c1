"""Submitting requests: the request-file round trip of PROTOCOL.md 4.7, and nothing sent twice.

A request is written to ``<staging>/request-<action>-<random>`` (mode ``0666`` minus the umask, so the
service account can read it), announced with ``POST /new/<name>`` and always deleted afterwards. If the
connection is refused before anything was sent, the request is retried under a fresh name; any other
failure after sending is reported, never retried, because the service may already have acted on it.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import httpx

from ._http import error_from_response
from .errors import ConfigurationError, ServiceError, ServiceUnavailableError

__all__ = ["Submitter"]

# Submissions are processed synchronously by the service (an upload may copy gigabytes), so only the
# connection has a deadline.
_SUBMIT_TIMEOUT = httpx.Timeout(None, connect=10.0)


class Submitter:
    """Writes request files and posts them.

    Args:
        http: Pooled client whose base URL is the service.
        staging: The staging directory shared with the service.
        connect_retries: Extra attempts when the connection is refused before sending.
    """

    def __init__(self, http: httpx.Client, staging: Path, *, connect_retries: int = 3) -> None:
        self.http = http
        self.staging = staging
        self.connect_retries = connect_retries

    def _write(self, action: str, body: bytes) -> Path:
        while True:
            path = self.staging / f"request-{action}-{secrets.token_hex(12)}"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot write a request file in staging {self.staging}: {exc}"
                ) from exc
            with os.fdopen(fd, "wb") as handle:
                handle.write(body)
            return path

    def submit(self, action: str, payload: dict[str, Any], *, context: str) -> dict[str, Any]:
        """Perform one action and return the service's JSON answer.

        Args:
            action: Action name, e.g. ``"upload"``.
            payload: Request fields.
            context: What is being done, for error messages.

        Raises:
            GobblerError: The typed error matching the service's status code.
            ServiceUnavailableError: When the service cannot be reached (or broke off after sending).
            ConfigurationError: When no request file can be written in staging.
        """
        body = json.dumps(payload).encode("utf-8")
        attempt = 0
        while True:
            path = self._write(action, body)
            try:
                response = self.http.post(f"/new/{path.name}", timeout=_SUBMIT_TIMEOUT)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt < self.connect_retries:
                    attempt += 1
                    time.sleep(0.1 * 2**attempt)
                    continue
                raise ServiceUnavailableError(f"{context}: cannot reach the Gobbler service ({exc})") from exc
            except httpx.TransportError as exc:
                raise ServiceUnavailableError(
                    f"{context}: the connection broke after the request was sent, so it may have been "
                    f"performed; it was not resent ({exc})"
                ) from exc
            finally:
                path.unlink(missing_ok=True)
            if response.status_code >= 300:
                raise error_from_response(response, context)
            try:
                answer = response.json()
            except ValueError:
                raise ServiceError(
                    f"{context}: the service answered HTTP {response.status_code} without a JSON body",
                    status=response.status_code,
                ) from None
            return answer if isinstance(answer, dict) else {}
