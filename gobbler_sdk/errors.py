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
    │   └── ResponseTooLargeError  an answer read into memory exceeds ``max_response_size``
    ├── ServiceUnavailableError    the service cannot be reached (also ConnectionError)
    │   └── OutcomeUnknownError    a request was sent but no answer came: it MAY HAVE BEEN APPLIED
    ├── IntegrityError             downloaded or cached bytes do not match the manifest
    ├── UnsafePathError            a server-supplied path would escape the cache (also ValueError)
    ├── ReadOnlyError              writing through the read-only gobbler:// filesystem (also PermissionError)
    ├── ConfigurationError         staging, registry or URL missing or unusable
    └── LocalFileError             an OSError on the client's own files (also OSError)
        ├── LocalPermissionError       (also PermissionError)
        ├── LocalFileNotFoundError     (also FileNotFoundError)
        ├── LocalFileExistsError       (also FileExistsError)
        ├── LocalIsADirectoryError     (also IsADirectoryError)
        └── LocalNotADirectoryError    (also NotADirectoryError)

:func:`error_from_status` is the one place HTTP answers become exceptions, :func:`error_from_oserror` the
one place failures of local file operations do.
"""

from __future__ import annotations

import errno
import os

__all__ = [
    "ConfigurationError",
    "GobblerError",
    "IntegrityError",
    "InvalidNameError",
    "InvalidRequestError",
    "LocalFileError",
    "LocalFileExistsError",
    "LocalFileNotFoundError",
    "LocalIsADirectoryError",
    "LocalNotADirectoryError",
    "LocalPermissionError",
    "NotCachedError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "ReadOnlyError",
    "ResponseTooLargeError",
    "ServiceError",
    "ServiceUnavailableError",
    "UnsafePathError",
    "error_from_oserror",
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


class ResponseTooLargeError(ServiceError):
    """An answer the client reads into memory (a listing, a document) is larger than the client's cap.

    The cap is :class:`~gobbler_sdk.GobblerClient`'s ``max_response_size``; real answers stay far below it,
    so a larger one is a broken or hostile server. Reading stopped at the cap.
    """


class ServiceUnavailableError(GobblerError, ConnectionError):
    """The service could not be reached, or the connection broke before it answered."""


class OutcomeUnknownError(ServiceUnavailableError):
    """A request reached the service (or may have) but no answer arrived: it MAY HAVE BEEN APPLIED.

    Raised when a submission's wait for the answer exceeds :class:`~gobbler_sdk.GobblerClient`'s
    ``submit_timeout``, or when the connection breaks after the request was sent. The request was not
    resent: check the registry (for example ``version.exists()``) before trying again.
    """


class IntegrityError(GobblerError):
    """Bytes received or found in the cache do not match the size or MD5 recorded in the manifest."""


class UnsafePathError(GobblerError, ValueError):
    """A path given by a server is absolute, climbs with ``..`` or contains a backslash."""


class ReadOnlyError(GobblerError, PermissionError):
    """A write, delete or mkdir through the ``gobbler://`` filesystem, which is read-only.

    Versions are immutable and appear whole, so files are added by uploading a new version
    (:meth:`Asset.upload <gobbler_sdk.Asset.upload>`). Being a :class:`PermissionError` (``errno``
    ``EROFS``, "read-only file system"), it is the :class:`OSError` that code written for other fsspec
    filesystems already handles.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.errno = errno.EROFS


class ConfigurationError(GobblerError):
    """The client lacks a usable URL, staging directory, registry or cache."""


class LocalFileError(GobblerError, OSError):
    """An operating-system error on the client's own files (a source tree, staging, a clone).

    Args:
        message: Human-readable description, naming the path.
        errno: The ``errno`` of the failure.
        filename: The path involved.

    Attributes:
        errno: The ``errno`` of the failure, as on any ``OSError``.
        filename: The path involved.
    """

    def __init__(self, message: str, *, errno: int | None = None, filename: str | None = None) -> None:
        super().__init__(message)
        self.errno = errno
        self.filename = filename

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class LocalPermissionError(LocalFileError, PermissionError):
    """The client may not read or write one of its own files or directories."""


class LocalFileNotFoundError(LocalFileError, FileNotFoundError):
    """A local file or directory the client needs does not exist."""


class LocalFileExistsError(LocalFileError, FileExistsError):
    """A local path the client must create already exists."""


class LocalIsADirectoryError(LocalFileError, IsADirectoryError):
    """A local path the client treats as a file is a directory."""


class LocalNotADirectoryError(LocalFileError, NotADirectoryError):
    """A local path the client treats as a directory (or a path component) is not one."""


_LOCAL_KINDS: tuple[tuple[type[OSError], type[LocalFileError]], ...] = (
    (PermissionError, LocalPermissionError),
    (FileNotFoundError, LocalFileNotFoundError),
    (FileExistsError, LocalFileExistsError),
    (IsADirectoryError, LocalIsADirectoryError),
    (NotADirectoryError, LocalNotADirectoryError),
)


def error_from_oserror(exc: OSError, context: str) -> GobblerError:
    """Map an ``OSError`` on the client's own files to a :class:`LocalFileError` of the same builtin kind.

    Errors that already are :class:`GobblerError` (some are ``OSError`` subclasses) are returned as they
    are. The one place this mapping lives.

    Args:
        exc: The failure.
        context: What was being done, prefixed to the message (for example ``"stage upload of /data"``).
    """
    if isinstance(exc, GobblerError):
        return exc
    kind = next((local for builtin, local in _LOCAL_KINDS if isinstance(exc, builtin)), LocalFileError)
    filename = None if exc.filename is None else os.fsdecode(exc.filename)
    detail = exc.strerror or str(exc)
    where = f" ({filename})" if filename and filename not in context else ""
    return kind(f"{context}: {detail}{where}", errno=exc.errno, filename=filename)


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
