"""HTTP plumbing shared by reads and request submission: the pooled client, retries and error mapping.

Only idempotent GETs are retried, on connection errors, time-outs and 5xx answers that did not come from
the service's own logic (a JSON ``{"status": "ERROR"}`` body is deterministic, so retrying it only wastes
time). Request submission never goes through here: a POST that may have reached the service is never resent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from urllib.parse import quote

import httpx
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from .errors import GobblerError, ServiceUnavailableError, error_from_status

__all__ = [
    "RetryableStatus",
    "error_from_response",
    "fetch_url",
    "list_query",
    "make_http_client",
    "with_retries",
]

T = TypeVar("T")


class RetryableStatus(Exception):
    """An answer worth retrying (a 5xx that is not the service's own JSON error)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def make_http_client(base_url: str, *, timeout: float, concurrency: int) -> httpx.Client:
    """Create the pooled client one :class:`~gobbler_sdk.GobblerClient` uses for everything.

    The pool holds enough keep-alive connections for ``concurrency`` parallel downloads.
    """
    limits = httpx.Limits(
        max_connections=max(concurrency, 1) + 2, max_keepalive_connections=max(concurrency, 1) + 2
    )
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        limits=limits,
        follow_redirects=False,
    )


def error_from_response(response: httpx.Response, context: str = "") -> GobblerError:
    """Turn an error response into the matching :class:`~gobbler_sdk.errors.GobblerError`.

    Uses the service's ``reason`` when the body is JSON (``Content-Type: application/json``), else the text.
    """
    reason = response.text
    if response.headers.get("content-type") == "application/json":
        try:
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("reason"), str):
                reason = body["reason"]
        except ValueError:
            pass
    return error_from_status(response.status_code, reason.strip(), context=context)


def is_retryable(response: httpx.Response) -> bool:
    """Whether a GET answer should be retried."""
    return response.status_code >= 500 and response.headers.get("content-type") != "application/json"


def _should_retry(exc: BaseException) -> bool:
    return isinstance(exc, (httpx.TransportError, RetryableStatus))


def with_retries(operation: Callable[[], T], *, retries: int, what: str) -> T:
    """Run an idempotent read, retrying transient failures with exponential back-off and jitter.

    Args:
        operation: Performs the request; raises :class:`RetryableStatus` for a retryable answer.
        retries: Further attempts after the first.
        what: Description for the error message.

    Raises:
        ServiceUnavailableError: When the service stays unreachable.
        GobblerError: When the last answer was still an error.
    """
    retrying = Retrying(
        retry=retry_if_exception(_should_retry),
        stop=stop_after_attempt(retries + 1),
        # Jitter on the scale of the first wait: tenacity's default (up to 1 s) would dwarf the back-off.
        wait=wait_exponential(multiplier=0.05, max=2.0) + wait_random(0, 0.05),
        reraise=True,
    )
    try:
        return retrying(operation)
    except RetryableStatus as exc:
        raise error_from_response(exc.response, what) from None
    except httpx.TransportError as exc:
        raise ServiceUnavailableError(f"{what}: cannot reach the Gobbler service ({exc})") from exc


def fetch_url(path: str) -> str:
    """URL path of ``/fetch`` for a registry-relative path (each segment percent-encoded once)."""
    return "/fetch/" + quote(path, safe="/")


def list_query(path: str, recursive: bool) -> str:
    """URL of ``/list``. The service percent-decodes ``path`` twice, so it is encoded twice."""
    url = "/list"
    params = []
    if path:
        params.append("path=" + quote(quote(path, safe=""), safe=""))
    if recursive:
        params.append("recursive=true")
    return url + ("?" + "&".join(params) if params else "")
