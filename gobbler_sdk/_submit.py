"""Submitting requests: the request-file round trip of PROTOCOL.md 4.7, and nothing sent twice.

A request is written to ``<staging>/request-<action>-<random>`` — created new (``O_EXCL``, never through a
symlink) with mode ``0644`` set explicitly, so the service account can read it and no other user can
rewrite it whatever the umask — announced with ``POST /new/<name>`` and always deleted afterwards. The
file is ``flock``-ed while the request is pending, so a sweep of abandoned files
(:func:`gobbler_sdk._staging.sweep_abandoned`) never takes it.

If the connection is refused before anything was sent, the request is retried under a fresh name. Any
other failure after sending is reported, never retried, because the service may already have acted on it:
that includes a wait for the answer longer than ``wait`` seconds (the service answers only once the action
is done, so the limit is long), reported as :class:`~gobbler_sdk.errors.OutcomeUnknownError`.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import httpx

from ._fetcher import Answer
from ._http import error_from_answer, read_capped_stream
from ._limits import DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_SUBMIT_TIMEOUT, Deadline, deadline_scope
from ._staging import create_exclusive
from .errors import ConfigurationError, OutcomeUnknownError, ServiceError, ServiceUnavailableError

__all__ = ["Submitter"]

# Connecting has a deadline of its own; the wait for the answer is bounded by ``wait`` (a deadline over
# the whole exchange, applied by gobbler_sdk._limits).
_SUBMIT_TIMEOUT = httpx.Timeout(None, connect=10.0)


class Submitter:
    """Writes request files and posts them.

    Args:
        http: Pooled client whose base URL is the service.
        staging: The staging directory shared with the service.
        connect_retries: Extra attempts when the connection is refused before sending.
        wait: Seconds to wait for each answer (``None``: forever).
        max_response_size: Largest answer read into memory.
    """

    def __init__(
        self,
        http: httpx.Client,
        staging: Path,
        *,
        connect_retries: int = 3,
        wait: float | None = DEFAULT_SUBMIT_TIMEOUT,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        self.http = http
        self.staging = staging
        self.connect_retries = connect_retries
        self.wait = wait
        self.max_response_size = max_response_size

    def _write(self, action: str, body: bytes) -> tuple[Path, int]:
        """Create and fill a fresh request file; return it with its (locked, open) descriptor."""
        while True:
            path = self.staging / f"request-{action}-{secrets.token_hex(12)}"
            try:
                fd = create_exclusive(path)
            except FileExistsError:
                continue
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot write a request file in staging {self.staging}: {exc.strerror or exc}. The "
                    "staging directory must be writable by every user of the service (mode 1777)"
                ) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                written = 0
                while written < len(body):
                    written += os.write(fd, body[written:])
            except BaseException:
                os.close(fd)
                path.unlink(missing_ok=True)
                raise
            return path, fd

    def submit(self, action: str, payload: dict[str, Any], *, context: str) -> dict[str, Any]:
        """Perform one action and return the service's JSON answer.

        Args:
            action: Action name, e.g. ``"upload"``.
            payload: Request fields.
            context: What is being done, for error messages.

        Raises:
            GobblerError: The typed error matching the service's status code.
            ServiceUnavailableError: When the service cannot be reached.
            OutcomeUnknownError: When the connection broke after sending, or no answer came within
                ``wait`` seconds: the request may have been applied (it is not resent).
            ConfigurationError: When no request file can be written in staging.
        """
        body = json.dumps(payload).encode("utf-8")
        attempt = 0
        while True:
            path, fd = self._write(action, body)
            try:
                answer = self._post(path.name)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt < self.connect_retries:
                    attempt += 1
                    time.sleep(0.1 * 2**attempt)
                    continue
                raise ServiceUnavailableError(f"{context}: cannot reach the Gobbler service ({exc})") from exc
            except httpx.TimeoutException as exc:
                raise OutcomeUnknownError(
                    f"{context}: no answer within submit_timeout={self.wait} s, so the request "
                    f"({path.name}) MAY HAVE BEEN APPLIED; it was not resent. Check the registry before "
                    f"trying again ({exc})"
                ) from exc
            except httpx.TransportError as exc:
                raise OutcomeUnknownError(
                    f"{context}: the connection broke after the request ({path.name}) was sent, so it MAY "
                    f"HAVE BEEN APPLIED; it was not resent. Check the registry before trying again ({exc})"
                ) from exc
            finally:
                path.unlink(missing_ok=True)
                os.close(fd)
            if answer.status >= 300:
                raise error_from_answer(answer.status, answer.content_type, answer.body, context)
            try:
                parsed = json.loads(answer.body)
            except ValueError:
                raise ServiceError(
                    f"{context}: the service answered HTTP {answer.status} without a JSON body",
                    status=answer.status,
                ) from None
            return parsed if isinstance(parsed, dict) else {}

    def _post(self, name: str) -> Answer:
        deadline = Deadline(self.wait, min_rate=None, per_read=None)
        with (
            deadline_scope(deadline),
            self.http.stream("POST", f"/new/{name}", timeout=_SUBMIT_TIMEOUT) as response,
        ):
            data = read_capped_stream(response, self.max_response_size, f"answer to {name}")
            return Answer(response.status_code, response.headers.get("content-type"), data)
