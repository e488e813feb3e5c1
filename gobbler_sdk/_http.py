"""HTTP plumbing shared by reads and request submission: the pooled client, retries and error mapping.

Only idempotent GETs are retried, on connection errors, time-outs and 5xx answers that did not come from
the service's own logic (a JSON ``{"status": "ERROR"}`` body is deterministic, so retrying it only wastes
time). Request submission never goes through here: a POST that may have reached the service is never resent.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import quote

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from ._fetcher import Answer
from ._limits import ReadLimits, deadline_scope, install_deadlines, too_large
from ._log import logger
from .errors import ConfigurationError, GobblerError, ServiceUnavailableError, error_from_status

__all__ = [
    "REASON_LIMIT",
    "TRANSPORT_ERRORS",
    "RetryableStatus",
    "check_identity",
    "error_from_answer",
    "error_from_response",
    "fetch_url",
    "final_error",
    "get_answer",
    "is_retryable",
    "is_retryable_status",
    "is_service_json",
    "list_query",
    "make_http_client",
    "read_capped_stream",
    "with_retries",
]

T = TypeVar("T")

_FIRST_WAIT = 0.05


class RetryableStatus(Exception):
    """An answer worth retrying (a 5xx that is not the service's own JSON error).

    Args:
        status: HTTP status code.
        content_type: The answer's ``Content-Type``.
        body: The answer's body.
    """

    def __init__(self, status: int, content_type: str | None, body: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.content_type = content_type
        self.body = body

    @classmethod
    def of(cls, response: httpx.Response) -> RetryableStatus:
        """Wrap an httpx response (its body already read)."""
        return cls(response.status_code, response.headers.get("content-type"), response.content)


def make_http_client(base_url: str, *, timeout: float, concurrency: int) -> httpx.Client:
    """Create the pooled client one :class:`~gobbler_sdk.GobblerClient` uses for everything.

    The pool holds enough keep-alive connections for ``concurrency`` parallel downloads.
    """
    limits = httpx.Limits(
        max_connections=max(concurrency, 1) + 2, max_keepalive_connections=max(concurrency, 1) + 2
    )
    client = httpx.Client(
        base_url=base_url.rstrip("/"),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        limits=limits,
        follow_redirects=False,
    )
    install_deadlines(client)
    return client


def read_capped_stream(response: httpx.Response, limit: int, what: str) -> bytes:
    """The body of a streamed httpx answer, refused once it exceeds ``limit`` bytes.

    Raises:
        ResponseTooLargeError: When the announced or received (decoded) length exceeds ``limit``.
    """
    announced = response.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > limit:
        raise too_large(what, limit)
    pieces: list[bytes] = []
    total = 0
    for piece in response.iter_bytes():
        pieces.append(piece)
        total += len(piece)
        if total > limit:
            raise too_large(what, limit)
    return b"".join(pieces)


def get_answer(http: httpx.Client, url: str, limits: ReadLimits, what: str) -> Answer:
    """A small GET through httpx, under a read deadline and the size cap.

    Raises:
        httpx.TransportError: When the exchange fails or outlasts its deadline.
        ResponseTooLargeError: When the body exceeds the cap.
    """
    with deadline_scope(limits.deadline()), http.stream("GET", url) as response:
        body = read_capped_stream(response, limits.max_response_size, what)
        return Answer(response.status_code, response.headers.get("content-type"), body)


#: Characters of an error answer's text kept in the exception (the service's reasons are one line).
REASON_LIMIT = 4096


def error_from_answer(status: int, content_type: str | None, body: bytes, context: str = "") -> GobblerError:
    """Turn an error answer into the matching :class:`~gobbler_sdk.errors.GobblerError`.

    Uses the service's ``reason`` when the body is JSON (``Content-Type: application/json``), else the text,
    cut at :data:`REASON_LIMIT` characters: a server that answers an error with megabytes must not flood the
    logs and the terminal through the exception's message.
    """
    reason = body.decode("utf-8", errors="replace")
    if content_type == "application/json":
        try:
            parsed = json.loads(body)
            if isinstance(parsed, dict) and isinstance(parsed.get("reason"), str):
                reason = parsed["reason"]
        except ValueError:
            pass
    reason = reason.strip()
    if len(reason) > REASON_LIMIT:
        reason = f"{reason[:REASON_LIMIT]}... ({len(reason) - REASON_LIMIT} more characters left out)"
    return error_from_status(status, reason, context=context)


def error_from_response(response: httpx.Response, context: str = "") -> GobblerError:
    """:func:`error_from_answer` for an httpx response."""
    return error_from_answer(
        response.status_code, response.headers.get("content-type"), response.content, context
    )


def is_service_json(content_type: str | None) -> bool:
    """Whether an answer is JSON, as every answer of the Gobbler API but ``/fetch``'s files is."""
    return (content_type or "").split(";")[0].strip().lower() == "application/json"


def check_identity(url: str, status: int, content_type: str | None, body: bytes) -> dict[str, str]:
    """Check that an answer to ``GET /info`` comes from a Gobbler service; return its document.

    A wrong URL often still answers: a web server's HTML 404 page, another API's JSON, or a Gobbler
    service's own 405 for a path outside its prefix. Each gets one line naming the URL and what to check,
    never the answer's body.

    Raises:
        ConfigurationError: When the answer is not a Gobbler service's ``/info``.
    """
    document: object = None
    if status == 200 and is_service_json(content_type):
        try:
            document = json.loads(body)
        except ValueError:
            document = None
    if isinstance(document, dict) and all(isinstance(document.get(k), str) for k in ("staging", "registry")):
        return {"staging": document["staging"], "registry": document["registry"]}
    if status != 200:
        answered = f"HTTP {status}"
    elif is_service_json(content_type):
        answered = "a JSON document without the service's registry and staging"
    else:
        answered = f"a {(content_type or 'untyped').split(';')[0]} document"
    raise ConfigurationError(
        f"{url} is not a Gobbler service: GET {url}/info answered {answered}. Check the URL, including "
        "the path prefix the service was started with (-prefix)"
    )


def is_retryable_status(status: int, content_type: str | None) -> bool:
    """Whether a GET answer should be retried: a 5xx that is not the service's own JSON error."""
    return status >= 500 and content_type != "application/json"


def is_retryable(response: httpx.Response) -> bool:
    """:func:`is_retryable_status` for an httpx response."""
    return is_retryable_status(response.status_code, response.headers.get("content-type"))


# Transport failures of either HTTP stack: httpx's, and the standard library's (refused, reset or timed-out
# connections, unknown hosts, truncated or garbled answers). Other OS errors, such as a full disk while
# writing the cache, are not the service's fault and are not retried.
TRANSPORT_ERRORS = (
    httpx.TransportError,
    ConnectionError,
    TimeoutError,
    socket.gaierror,
    http.client.HTTPException,
)


def _should_retry(exc: BaseException) -> bool:
    return isinstance(exc, (*TRANSPORT_ERRORS, RetryableStatus))


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
    try:
        # The first attempt runs bare: building tenacity's machinery for every one of a directory's
        # thousands of requests cost ~30 us each, for the rare request that fails.
        try:
            return operation()
        except BaseException as exc:
            if retries <= 0 or not _should_retry(exc):
                raise
            logger.info("%s failed (%s); retrying", what, _failure(exc))
        time.sleep(_FIRST_WAIT + random.uniform(0, _FIRST_WAIT))

        def log_retry(state: RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome is not None else None
            logger.info("%s failed again (%s); retrying", what, _failure(failure))

        retrying = Retrying(
            before_sleep=log_retry,
            retry=retry_if_exception(_should_retry),
            stop=stop_after_attempt(retries),
            # Continues the back-off from the first wait (0.05 s): 0.1, 0.2, ... s, with jitter on the scale
            # of the first wait (tenacity's default, up to 1 s, would dwarf it).
            wait=wait_exponential(multiplier=2 * _FIRST_WAIT, max=2.0) + wait_random(0, _FIRST_WAIT),
            reraise=True,
        )
        return retrying(operation)
    except (RetryableStatus, *TRANSPORT_ERRORS) as exc:
        raise final_error(exc, what) from exc


def _failure(exc: BaseException | None) -> str:
    if isinstance(exc, RetryableStatus):
        return f"HTTP {exc.status}"
    return type(exc).__name__ if exc is not None else "unknown"


def final_error(exc: BaseException, what: str) -> GobblerError:
    """The error to report for a transient failure that retrying did not cure."""
    if isinstance(exc, RetryableStatus):
        return error_from_answer(exc.status, exc.content_type, exc.body, what)
    return ServiceUnavailableError(f"{what}: cannot reach the Gobbler service ({exc})")


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
