"""The exception tree of gobbler-sdk.

Every error the SDK raises on purpose is a :class:`GobblerError`. Errors reported by the service carry the
HTTP ``status`` and the service's ``reason``; the class says what kind of failure it was::

    GobblerError
    ├── InvalidRequestError        400: the request itself is wrong (also raised before sending)
    │   └── InvalidNameError       a project/asset/version name the service would reject (also ValueError)
    ├── PermissionDeniedError      403 (also PermissionError)
    ├── NotFoundError              404, or a missing project/asset/version on a read (also LookupError)
    │   └── NotCachedError         offline (or the service unreachable) and the answer is not cached
    ├── ServiceError               5xx, or a service answer or registry document that cannot be parsed
    ├── ServiceUnavailableError    the service cannot be reached (also ConnectionError)
    ├── IntegrityError             downloaded or cached bytes do not match the manifest
    ├── UnsafePathError            a server-supplied path would escape the cache (also ValueError)
    └── ConfigurationError         staging, registry or URL missing or unusable
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "GobblerError",
    "IntegrityError",
    "InvalidNameError",
    "InvalidRequestError",
    "NotCachedError",
    "NotFoundError",
    "PermissionDeniedError",
    "ServiceError",
    "ServiceUnavailableError",
    "UnsafePathError",
    "error_from_status",
]


class GobblerError(Exception):
    """Base class of every error raised by gobbler-sdk.

    Args:
        message: Human-readable description.
        status: HTTP status code when the service answered, else ``None``.
        reason: The service's ``reason`` string when it gave one, else ``None``.

    Attributes:
        status: HTTP status code when the service answered, else ``None``.
        reason: The service's ``reason`` string when it gave one, else ``None``.
    """

    def __init__(self, message: str, *, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class InvalidRequestError(GobblerError):
    """The request is malformed or conflicts with the registry (HTTP 400, or caught before sending)."""


class InvalidNameError(InvalidRequestError, ValueError):
    """A project, asset or version name breaks the service's naming rules; nothing was sent."""


class PermissionDeniedError(GobblerError, PermissionError):
    """The caller may not perform this action (HTTP 403)."""


class NotFoundError(GobblerError, LookupError):
    """A project, asset, version or file does not exist (HTTP 404)."""


class NotCachedError(NotFoundError):
    """A read could only be answered from the cache (offline mode, or the service unreachable) and it is not.

    Raised in offline mode for anything not cached (nothing is asked of the service), and when the service
    cannot be reached for something the cache cannot answer on its own.
    """


class ServiceError(GobblerError):
    """The service failed while handling the request (HTTP 5xx), or sent or stored something unparsable."""


class ServiceUnavailableError(GobblerError, ConnectionError):
    """The service could not be reached, or the connection broke before it answered."""


class IntegrityError(GobblerError):
    """Bytes received or found in the cache do not match the size or MD5 recorded in the manifest."""


class UnsafePathError(GobblerError, ValueError):
    """A path given by a server is absolute, climbs with ``..`` or contains a backslash."""


class ConfigurationError(GobblerError):
    """The client lacks a usable URL, staging directory, registry or cache."""


def error_from_status(status: int, reason: str, *, context: str = "") -> GobblerError:
    """Map an HTTP status and reason to the matching exception — the one place this mapping lives.

    Args:
        status: HTTP status code (>= 300).
        reason: The service's ``reason``, or the response text.
        context: What was being done, prefixed to the message (for example ``"upload p/a/v"``).

    Returns:
        An instance of the most specific :class:`GobblerError` subclass.
    """
    message = f"{context}: {reason}" if context else reason
    message = f"{message} (HTTP {status})"
    kind: type[GobblerError]
    if status == 400:
        kind = InvalidRequestError
    elif status == 403:
        kind = PermissionDeniedError
    elif status == 404:
        kind = NotFoundError
    elif status >= 500:
        kind = ServiceError
    else:
        kind = GobblerError
    return kind(message, status=status, reason=reason)
