"""Submitting requests: the request-file round trip, and nothing sent twice.

A request is written under a name the service never acts on, ``<staging>/writing-request-<action>-<random>``
— created new (``O_EXCL``, never through a symlink) with mode ``0644`` set explicitly, so the service
account can read it and no other user can rewrite it whatever the umask — and only once complete renamed
to ``request-<action>-<random>``, announced with ``POST /new/<name>`` and always deleted afterwards. So
the file has its final name only when it says everything it will say: staging is world-readable, and the
protocol lets anyone POST any request file's name, so a neighbour watching staging can announce the file
before this client does — and must then find the whole request, not half of it. The file is ``flock``-ed
while the request is pending, so a sweep of abandoned files (:func:`gobbler_sdk._staging.sweep_abandoned`)
never takes it.

**A neighbour's POST first.** The service then performs the request (it is this client's, with this
client's identity) and answers this client's own POST with 400 ``path is already being processed``. The
run the neighbour started may not have read the file yet, so it is deleted only once the service would
refuse it anyway (a minute after it was written), from a daemon thread. The answer does not say whether
the action was applied, so it is reported as
:class:`~gobbler_sdk.errors.OutcomeUnknownError` — unless the caller gave a check that can read the answer
off the registry (:func:`upload_outcome`, :func:`removal_outcome`): it is then polled until it can tell,
for at most :data:`SETTLE_WINDOW` seconds.

**An answer that does not come.** The same check, when given, also reads the outcome of a request whose
connection broke after sending, or whose answer did not come within ``wait`` seconds.

If the connection is refused before anything was sent, the request is retried under a fresh name. Any
other failure after sending is reported, never retried, because the service may already have acted on it:
that includes a wait for the answer longer than ``wait`` seconds (the service answers only once the action
is done, so the limit is long), reported as :class:`~gobbler_sdk.errors.OutcomeUnknownError`.
"""

from __future__ import annotations

import enum
import fcntl
import json
import math
import os
import pwd
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from ._cancel import point_of_no_return
from ._fetcher import Answer
from ._http import error_from_answer, read_capped_stream
from ._limits import DEFAULT_MAX_RESPONSE_SIZE, DEFAULT_SUBMIT_TIMEOUT, Deadline, deadline_scope
from ._log import logger
from ._rfc3339 import parse_rfc3339
from ._staging import WRITING_PREFIX, create_exclusive
from .errors import (
    ConfigurationError,
    GobblerError,
    InvalidRequestError,
    OutcomeUnknownError,
    ServiceError,
    ServiceUnavailableError,
)

__all__ = [
    "SETTLE_WINDOW",
    "Outcome",
    "OutcomeCheck",
    "Submitter",
    "expected_uploader",
    "is_already_processing",
    "removal_outcome",
    "upload_outcome",
]

#: Longest wait (seconds) for a check to tell what became of a request a neighbour posted first. The
#: service forgets a posted name after 60 s whether or not the action is done; an action still running by
#: then is reported as of unknown outcome.
SETTLE_WINDOW = 60.0
#: Pause between two checks at first; it doubles up to a second.
_FIRST_PAUSE = 0.05
#: How long the service accepts a request file (seconds since its modification) and remembers a posted
#: name: after that, a leftover request file is inert.
_REQUEST_LIFETIME = 60.0


def _discard(path: Path, fd: int) -> None:
    """Delete a request file and release it (the protocol's last step)."""
    try:
        path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _discard_later(path: Path, fd: int, delay: float) -> None:
    """Delete a request file after ``delay`` seconds, from a daemon thread.

    If the process ends first, the file stays for :func:`gobbler_sdk._staging.sweep_abandoned`; by then the
    service refuses it as expired, so nobody can replay it.
    """
    timer = threading.Timer(max(0.0, delay), _discard, args=(path, fd))
    timer.daemon = True
    timer.name = "gobbler-request-cleanup"
    timer.start()


class Outcome(enum.Enum):
    """What the registry says about a request whose answer went to another process."""

    #: The registry shows the action done, by this request.
    APPLIED = "applied"
    #: The registry shows this request could not have been applied (e.g. the version is someone else's).
    NOT_APPLIED = "not applied"
    #: The registry cannot tell yet (the action may still be running).
    PENDING = "pending"


#: Called with the time (``time.time()``) the request file was written; returns what the registry shows
#: and a few words on what was seen, for messages.
OutcomeCheck = Callable[[float], tuple[Outcome, str]]


def is_already_processing(error: GobblerError) -> bool:
    """Whether ``error`` is the service's answer to a POST of a request-file name it was already given.

    Both the reference service and the embedded one answer 400 ``path is already being processed``.
    """
    return error.status == 400 and "already being processed" in (error.reason or "")


def expected_uploader(spoof: str | None) -> str | None:
    """The user an upload by this process is recorded for: ``spoof`` when given, else this account's name.

    Returns:
        The name, or ``None`` when this account has no name (no passwd entry).
    """
    if spoof is not None:
        return spoof
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return None


def upload_outcome(read_summary: Callable[[], bytes | None], uploader: str | None) -> OutcomeCheck:
    """A check for an upload: is the version there now, uploaded by ``uploader`` since the request?

    Its ``..summary`` must name ``uploader`` and an ``upload_start`` no earlier than the second the
    request file was written; a summary that names someone else, or an earlier start, means the version
    already existed and this request was refused.

    Args:
        read_summary: Returns the version's ``..summary`` document, or ``None`` while it does not exist
            (the service writes it once, at the end of the transfer).
        uploader: The user the upload is recorded for (:func:`expected_uploader`); ``None`` when unknown,
            and then only the time is compared.

    Returns:
        The check, for :meth:`Submitter.submit`.
    """

    def check(written: float) -> tuple[Outcome, str]:
        data = read_summary()
        if data is None:
            return Outcome.PENDING, "the version has no ..summary yet"
        try:
            summary = json.loads(data)
        except ValueError:
            return Outcome.PENDING, "the version's ..summary cannot be parsed"
        if not isinstance(summary, dict):
            return Outcome.PENDING, "the version's ..summary is not a JSON object"
        who = summary.get("upload_user_id")
        started = parse_rfc3339(str(summary.get("upload_start", "")))
        # upload_start is the service's clock cut to whole seconds, so an upload run for this request
        # starts no earlier than the second in which the file was written (clocks agreeing to the second:
        # one machine, or synchronised ones).
        since = datetime.fromtimestamp(math.floor(written)).astimezone()
        if uploader in (None, who) and started is not None and started >= since:
            return Outcome.APPLIED, f"the version exists, uploaded by {who} at {summary.get('upload_start')}"
        return (
            Outcome.NOT_APPLIED,
            f"the version already existed (uploaded by {who!r} at {summary.get('upload_start')!r})",
        )

    return check


def removal_outcome(exists: Callable[[], bool]) -> OutcomeCheck:
    """A check for a deletion (of a project, an asset or a version): is it gone?

    Args:
        exists: Whether the target still exists (asked of the service, not of a cache).

    Returns:
        The check, for :meth:`Submitter.submit`.
    """

    def check(written: float) -> tuple[Outcome, str]:
        del written  # a deletion leaves nothing dated behind
        if exists():
            return Outcome.PENDING, "it still exists"
        return Outcome.APPLIED, "it no longer exists"

    return check


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
        """Write a complete request file, then give it its final name; return it and its locked descriptor."""
        while True:
            suffix = f"{action}-{secrets.token_hex(12)}"
            temporary = self.staging / f"{WRITING_PREFIX}{suffix}"
            path = self.staging / f"request-{suffix}"
            try:
                fd = create_exclusive(temporary)
            except FileExistsError:
                continue
            except OSError as exc:
                raise self._unwritable(exc) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                written = 0
                while written < len(body):
                    written += os.write(fd, body[written:])
                # 96 random bits: nobody has this name yet, and nobody could have guessed it to plant it.
                os.rename(temporary, path)
            except BaseException as exc:
                os.close(fd)
                temporary.unlink(missing_ok=True)
                if isinstance(exc, OSError):
                    raise self._unwritable(exc) from exc
                raise
            return path, fd

    def _unwritable(self, exc: OSError) -> ConfigurationError:
        return ConfigurationError(
            f"cannot write a request file in staging {self.staging}: {exc.strerror or exc}. The "
            "staging directory must be writable by every user of the service (mode 1777)"
        )

    def submit(
        self,
        action: str,
        payload: dict[str, Any],
        *,
        context: str,
        check: OutcomeCheck | None = None,
    ) -> dict[str, Any]:
        """Perform one action and return the service's JSON answer.

        Args:
            action: Action name, e.g. ``"upload"``.
            payload: Request fields.
            context: What is being done, for error messages.
            check: How to read the outcome off the registry when another process posted this request
                first (:func:`upload_outcome`, :func:`removal_outcome`); the answer is then
                ``{"status": "SUCCESS"}`` if the registry shows the action applied.

        Raises:
            GobblerError: The typed error matching the service's status code.
            ServiceUnavailableError: When the service cannot be reached.
            OutcomeUnknownError: When the connection broke after sending, or no answer came within
                ``wait`` seconds, or another process posted the request first and the registry cannot
                tell what became of it: the request may have been applied (it is not resent).
            InvalidRequestError: When another process posted the request first and the registry shows
                it could not have been applied.
            ConfigurationError: When no request file can be written in staging.
        """
        body = json.dumps(payload).encode("utf-8")
        attempt = 0
        while True:
            # Once the request file exists a neighbour may post it: a cancelled async caller stops before.
            point_of_no_return()
            written = time.time()
            path, fd = self._write(action, body)
            answer: Answer | None = None
            try:
                answer = self._post(path.name)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt < self.connect_retries:
                    attempt += 1
                    time.sleep(0.1 * 2**attempt)
                    continue
                raise ServiceUnavailableError(f"{context}: cannot reach the Gobbler service ({exc})") from exc
            except httpx.TimeoutException as exc:
                unknown = OutcomeUnknownError(
                    f"{context}: no answer within submit_timeout={self.wait} s, so the request "
                    f"({path.name}) MAY HAVE BEEN APPLIED; it was not resent. Check the registry before "
                    f"trying again ({exc})"
                )
                return self._settle(unknown, exc, written, context, check, "no answer came")
            except httpx.TransportError as exc:
                unknown = OutcomeUnknownError(
                    f"{context}: the connection broke after the request ({path.name}) was sent, so it MAY "
                    f"HAVE BEEN APPLIED; it was not resent. Check the registry before trying again ({exc})"
                )
                return self._settle(unknown, exc, written, context, check, "the connection broke")
            finally:
                if answer is not None and answer.status == 400 and b"already being processed" in answer.body:
                    # The run another process started may not have read the file yet: it stays (locked,
                    # so no sweep takes it) for as long as the service would accept it.
                    _discard_later(path, fd, written + _REQUEST_LIFETIME - time.time())
                else:
                    _discard(path, fd)
            if answer.status >= 300:
                error = error_from_answer(answer.status, answer.content_type, answer.body, context)
                if is_already_processing(error):
                    logger.warning(
                        "%s: another process posted this client's request file %s first; the service "
                        "performed it for them and answers this client only 'already being processed'",
                        context,
                        path.name,
                    )
                    unknown = OutcomeUnknownError(
                        f"{context}: another process posted this client's request file ({path.name}) before "
                        "this client did (or the service restarted while it waited), so the service "
                        "answered only 'already being processed': the request MAY HAVE BEEN APPLIED; it "
                        "was not resent. Check the registry before trying again",
                        status=400,
                        reason=error.reason,
                    )
                    return self._settle(unknown, None, written, context, check, "another process posted it")
                raise error
            try:
                parsed = json.loads(answer.body)
            except ValueError:
                raise ServiceError(
                    f"{context}: the service answered HTTP {answer.status} without a JSON body",
                    status=answer.status,
                ) from None
            return parsed if isinstance(parsed, dict) else {}

    def _settle(
        self,
        unknown: OutcomeUnknownError,
        cause: BaseException | None,
        written: float,
        context: str,
        check: OutcomeCheck | None,
        what: str,
    ) -> dict[str, Any]:
        """Read the outcome of a request whose answer did not come off the registry, or raise ``unknown``.

        Args:
            unknown: The error saying the outcome is unknown (what is seen is added to it).
            cause: What made the answer unusable, chained to the error raised.
            written: When the request file was written (``time.time()``).
            context: What was being done, for messages.
            check: How to read the outcome, if the registry can tell.
            what: Why the answer is missing, for messages.

        Raises:
            OutcomeUnknownError: Without a check, or when the check cannot tell within the window.
            InvalidRequestError: When the registry shows the request was not applied.
        """
        if check is None:
            raise unknown from cause
        window = SETTLE_WINDOW if self.wait is None else min(self.wait, SETTLE_WINDOW)
        limit = time.monotonic() + window
        pause = _FIRST_PAUSE
        while True:
            try:
                outcome, seen = check(written)
            except GobblerError as exc:
                outcome, seen = Outcome.PENDING, f"the registry could not be read ({exc})"
            if outcome is Outcome.APPLIED:
                logger.warning("%s: %s, but the registry shows the request applied: %s", context, what, seen)
                return {"status": "SUCCESS"}
            if outcome is Outcome.NOT_APPLIED:
                raise InvalidRequestError(
                    f"{context}: {what}, and the registry shows the request was not applied: {seen}",
                    status=unknown.status,
                    reason=unknown.reason,
                ) from cause
            if time.monotonic() + pause > limit:
                raise OutcomeUnknownError(
                    f"{unknown} (after {window:.0f} s of checking: {seen})",
                    status=unknown.status,
                    reason=unknown.reason,
                ) from cause
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    def _post(self, name: str) -> Answer:
        deadline = Deadline(self.wait, min_rate=None, per_read=None)
        with (
            deadline_scope(deadline),
            self.http.stream("POST", f"/new/{name}", timeout=_SUBMIT_TIMEOUT) as response,
        ):
            data = read_capped_stream(response, self.max_response_size, f"answer to {name}")
            return Answer(response.status_code, response.headers.get("content-type"), data)
