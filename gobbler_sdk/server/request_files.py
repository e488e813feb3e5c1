"""Request files: the checks before dispatch, replay protection and caller identity (section 4).

A request is a JSON file ``<staging>/request-<action>-<anything>``; the caller is whoever owns it.
"""

from __future__ import annotations

import os
import pwd
import stat
import threading
import time
from collections.abc import Iterable
from typing import Any

from .config import ServerConfig
from .errors import RequestError, go_quote, os_error_text
from .filedata import Identity, UnsafeEntry, file_kind, read_regular
from .gojson import Schema, decode_request

__all__ = [
    "FUTURE_SKEW_SECONDS",
    "REPLAY_SECONDS",
    "ReplayTable",
    "Request",
    "check_request_file",
    "user_name",
]

REPLAY_SECONDS = 60.0
REQUEST_PREFIX = "request-"
_EXPIRY_NS = 60 * 1_000_000_000
# How far ahead of the service's clock a request file may be dated (a file server's clock, say) before
# it is refused: such a file would otherwise never expire (deliberately stricter than the reference).
FUTURE_SKEW_SECONDS = 10
_FUTURE_SKEW_NS = FUTURE_SKEW_SECONDS * 1_000_000_000


class ReplayTable:
    """Names of request files seen in the last 60 seconds, per process (as the reference keeps them)."""

    def __init__(self, window: float = REPLAY_SECONDS) -> None:
        self._window = window
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def prefill(self, names: Iterable[str]) -> None:
        """Block ``names`` for the next window (used at start-up with the staging directory's entries)."""
        deadline = time.monotonic() + self._window
        with self._lock:
            for name in names:
                self._expiry[name] = deadline

    def claim(self, name: str) -> bool:
        """Insert ``name``; return ``False`` when it is already present."""
        now = time.monotonic()
        with self._lock:
            for old in [n for n, t in self._expiry.items() if t <= now]:
                del self._expiry[old]
            if name in self._expiry:
                return False
            self._expiry[name] = now + self._window
            return True


def user_name(uid: int) -> str:
    """Resolve a UID to its user name.

    Raises:
        RequestError: 500 when the UID has no passwd entry (the reference drops the connection instead).
    """
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        raise RequestError(500, f"failed to find a user name for UID {uid}") from None


def check_request_file(config: ServerConfig, replay: ReplayTable, name: str) -> os.stat_result:
    """Run steps 1-8 of the ``/new`` pipeline (3.4) and claim the name in the replay table.

    Returns:
        The ``lstat`` of the request file.

    Raises:
        RequestError: 400 with the reference's reason for the first failed check.
    """
    if not name.startswith(REQUEST_PREFIX):
        raise RequestError(400, 'file name should start with "request-"')
    if "/" in name or name in (".", ".."):
        raise RequestError(400, "path should be the name of a file in the staging directory")
    path = os.path.join(config.staging, name)
    try:
        info = os.lstat(path)
    except (OSError, ValueError) as exc:
        raise RequestError(400, f"failed to access path; {os_error_text('lstat', path, exc)}") from exc
    if stat.S_ISDIR(info.st_mode):
        raise RequestError(400, "path is a directory")
    if stat.S_ISLNK(info.st_mode):
        raise RequestError(400, "path is a symbolic link")
    if not stat.S_ISREG(info.st_mode):
        # Deliberately stricter than the reference, which blocks reading a FIFO here forever.
        raise RequestError(400, f"path is {file_kind(info.st_mode)}, not a regular file")
    if info.st_nlink != 1:
        raise RequestError(400, "path seems to have multiple hard links")
    age = time.time_ns() - info.st_mtime_ns
    if age >= _EXPIRY_NS:
        raise RequestError(400, "request file is expired")
    if -age > _FUTURE_SKEW_NS:
        raise RequestError(
            400, f"request file is dated more than {FUTURE_SKEW_SECONDS} seconds in the future"
        )
    if not replay.claim(name):
        raise RequestError(400, "path is already being processed")
    return info


class Request:
    """One request being handled: its file, its owner and its decoded content.

    Args:
        config: Service configuration (admins, spoof table, staging).
        name: File name inside staging.
        info: ``lstat`` result from :func:`check_request_file`.
    """

    def __init__(self, config: ServerConfig, name: str, info: os.stat_result) -> None:
        self.config = config
        self.name = name
        self.path = os.path.join(config.staging, name)
        self.info = info
        self._data: bytes | None = None

    def owner(self) -> str:
        """User name owning the request file."""
        return user_name(self.info.st_uid)

    def read(self) -> bytes:
        """Raw bytes of the request file (read once).

        Raises:
            RequestError: 500 when the file cannot be read.
        """
        if self._data is None:
            try:
                # The file that was checked, not whatever was swapped in since (a symlink, a FIFO).
                self._data = read_regular(self.path, Identity.of(self.info))
            except UnsafeEntry as exc:
                raise RequestError(400, f"request file {exc.detail}") from exc
            except OSError as exc:
                detail = os_error_text("open", self.path, exc)
                raise RequestError(500, f"failed to read {go_quote(self.path)}; {detail}") from exc
        return self._data

    def parse(self, schema: Schema) -> dict[str, Any]:
        """Read and decode the request with Go's semantics.

        Raises:
            RequestError: 500 when unreadable, 400 ``failed to parse JSON from ...`` when malformed.
        """
        data = self.read()
        try:
            return decode_request(data, schema)
        except ValueError as exc:
            raise RequestError(400, f"failed to parse JSON from {go_quote(self.path)}; {exc}") from exc

    def is_admin(self, user: str) -> bool:
        """Whether ``user`` is an administrator."""
        return user in self.config.admins

    def effective_user(self, owner: str, spoof: str | None) -> str:
        """Resolve spoofing (4.5): ``owner`` itself, or ``spoof`` when the spoof table allows it.

        Raises:
            RequestError: 403 when ``owner`` may not act as ``spoof``.
        """
        if spoof is None:
            return owner
        if not self.config.spoof.allows(owner, spoof):
            raise RequestError(403, f'user "{owner}" is not authorized to spoof "{spoof}"')
        return spoof

    def require_admin(self, what: str) -> str:
        """Identify the caller and require an administrator (the admin-first actions).

        Args:
            what: Completes ``user "<u>" is not authorized to ...``.

        Returns:
            The caller's user name.

        Raises:
            RequestError: 403 for a non-administrator.
        """
        user = self.owner()
        if not self.is_admin(user):
            raise RequestError(403, f'user "{user}" is not authorized to {what}')
        return user
