"""The single failure type of the embedded service: an HTTP status plus the ``reason`` the client sees."""

from __future__ import annotations

import os

from .goerrors import go_quote, os_error_text

__all__ = ["RequestError", "go_quote", "os_error_text", "stat_exists"]


class RequestError(Exception):
    """A request failed; the HTTP layer answers ``{"reason": ..., "status": "ERROR"}`` with ``status``.

    Attributes:
        status: HTTP status code (400, 403, 404 or 500, the only ones the reference service answers).
        reason: Message for the client; keeps the characteristic substrings of the reference.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def wrap(self, context: str) -> RequestError:
        """Return a copy whose reason is prefixed with ``context``, keeping the status."""
        return RequestError(self.status, f"{context}; {self.reason}")


def bad_request(reason: str) -> RequestError:
    """Build a 400 error."""
    return RequestError(400, reason)


def forbidden(reason: str) -> RequestError:
    """Build a 403 error."""
    return RequestError(403, reason)


def not_found(reason: str) -> RequestError:
    """Build a 404 error."""
    return RequestError(404, reason)


def internal(reason: str) -> RequestError:
    """Build a 500 error."""
    return RequestError(500, reason)


def stat_exists(path: str, label: str = "") -> bool:
    """Whether ``path`` exists (following links), as the reference's ``os.Stat`` checks tell.

    Only "no such file or directory" means missing; any other failure (a name too long, a NUL byte, a
    non-directory on the way) is a 500 ``failed to stat <label>"<path>"; stat <path>: <text>``.
    """
    try:
        os.stat(path)
    except FileNotFoundError:
        return False
    except (OSError, ValueError) as exc:
        raise RequestError(
            500, f"failed to stat {label}{go_quote(path)}; {os_error_text('stat', path, exc)}"
        ) from exc
    return True
