"""Exit statuses of ``gobbler-sdk``: one per family of :mod:`gobbler_sdk.errors`, in one place.

======  ===========================================================================================
Status  Meaning
======  ===========================================================================================
0       success
1       any other failure: an operating-system error, a declined confirmation, an unexpected error
2       usage error: unknown option, bad argument, missing ``--yes`` without a terminal
3       not found (:class:`~gobbler_sdk.NotFoundError`)
4       permission denied (:class:`~gobbler_sdk.PermissionDeniedError`)
5       invalid request or name (:class:`~gobbler_sdk.InvalidRequestError`,
        :class:`~gobbler_sdk.InvalidNameError`, :class:`~gobbler_sdk.UnsafePathError`)
6       integrity: bytes do not match the manifest (:class:`~gobbler_sdk.IntegrityError`)
7       service unavailable (:class:`~gobbler_sdk.ServiceUnavailableError`)
8       other service error (:class:`~gobbler_sdk.ServiceError`, any other
        :class:`~gobbler_sdk.GobblerError`)
9       configuration error: no URL, unusable staging, registry or cache
        (:class:`~gobbler_sdk.ConfigurationError`)
10      local file error: the client's own files (:class:`~gobbler_sdk.LocalFileError`)
11      outcome unknown: a request was sent but no answer came, so it may have been applied
        (:class:`~gobbler_sdk.OutcomeUnknownError`); check before running it again
130     interrupted (Ctrl-C)
======  ===========================================================================================
"""

from __future__ import annotations

from ..errors import (
    ConfigurationError,
    GobblerError,
    IntegrityError,
    InvalidRequestError,
    LocalFileError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    ReadOnlyError,
    ServiceError,
    ServiceUnavailableError,
    UnsafePathError,
)

__all__ = [
    "CONFIGURATION",
    "FAILURE",
    "INTEGRITY",
    "INTERRUPTED",
    "INVALID",
    "LOCAL_FILE",
    "NOT_FOUND",
    "OK",
    "OUTCOME_UNKNOWN",
    "PERMISSION_DENIED",
    "SERVICE_ERROR",
    "SERVICE_UNAVAILABLE",
    "USAGE",
    "code_for",
]

OK = 0
FAILURE = 1
USAGE = 2
NOT_FOUND = 3
PERMISSION_DENIED = 4
INVALID = 5
INTEGRITY = 6
SERVICE_UNAVAILABLE = 7
SERVICE_ERROR = 8
CONFIGURATION = 9
LOCAL_FILE = 10
OUTCOME_UNKNOWN = 11
INTERRUPTED = 130

# Most specific first is not needed: the classes are looked up along the exception's MRO, so a subclass
# added to the tree later (say, an offline "not cached" NotFoundError) inherits its family's status.
_CODES: dict[type[GobblerError], int] = {
    NotFoundError: NOT_FOUND,
    PermissionDeniedError: PERMISSION_DENIED,
    InvalidRequestError: INVALID,
    UnsafePathError: INVALID,
    IntegrityError: INTEGRITY,
    ServiceUnavailableError: SERVICE_UNAVAILABLE,
    ServiceError: SERVICE_ERROR,
    ConfigurationError: CONFIGURATION,
    LocalFileError: LOCAL_FILE,
    OutcomeUnknownError: OUTCOME_UNKNOWN,
    ReadOnlyError: PERMISSION_DENIED,
    GobblerError: SERVICE_ERROR,
}


def code_for(error: GobblerError) -> int:
    """The exit status for ``error``: that of the nearest class of the tree it belongs to."""
    for kind in type(error).__mro__:
        code = _CODES.get(kind)
        if code is not None:
            return code
    return SERVICE_ERROR
