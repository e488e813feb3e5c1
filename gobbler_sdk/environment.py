"""Every environment variable gobbler-sdk reads, in one place.

Each function reads its variable when called (not at import), so a variable set by a test or a notebook
cell takes effect for the next client. Precedence is the same everywhere: an argument given in code wins,
then the environment variable, then what the service reports (``GET /info``, for staging and registry),
then the default.

=============================  ===========================================================================
Variable                       Meaning
=============================  ===========================================================================
``GOBBLER_URL``                The service's REST API (``GobblerClient(url=)``).
``GOBBLER_REGISTRY``           The registry directory, when mounted here (``registry=``).
``GOBBLER_STAGING``            The staging directory (``staging=``).
``GOBBLER_CACHE``              The download cache (``cache=``); default: the user cache directory.
``GOBBLER_OFFLINE``            ``1``/``true``/``yes``/``on``: serve reads from the cache only (``offline=``).
``GOBBLER_DISABLE_PROGRESS``   ``1``/``true``/``yes``/``on``: never draw progress bars.
``GOBBLER_BINARY``             A Gobbler executable for :mod:`gobbler_sdk.testing` to run instead of the
                               embedded service.
``GOBBLER_RELEASE_URL``        Where :mod:`gobbler_sdk.testing` downloads Gobbler releases from.
``GOBBLER_SDK_DATA_DIR``       Where :mod:`gobbler_sdk.testing` keeps downloaded binaries.
=============================  ===========================================================================
"""

from __future__ import annotations

import os

__all__ = [
    "BINARY",
    "CACHE",
    "DATA_DIR",
    "DISABLE_PROGRESS",
    "OFFLINE",
    "REGISTRY",
    "RELEASE_URL",
    "STAGING",
    "URL",
    "flag",
    "value",
]

URL = "GOBBLER_URL"
REGISTRY = "GOBBLER_REGISTRY"
STAGING = "GOBBLER_STAGING"
CACHE = "GOBBLER_CACHE"
OFFLINE = "GOBBLER_OFFLINE"
DISABLE_PROGRESS = "GOBBLER_DISABLE_PROGRESS"
BINARY = "GOBBLER_BINARY"
RELEASE_URL = "GOBBLER_RELEASE_URL"
DATA_DIR = "GOBBLER_SDK_DATA_DIR"

_TRUE = ("1", "true", "yes", "on")


def value(variable: str) -> str | None:
    """The variable's value, or ``None`` when it is unset or empty.

    Args:
        variable: One of the names above.
    """
    return os.environ.get(variable) or None


def flag(variable: str) -> bool:
    """Whether a yes/no variable says yes (``1``, ``true``, ``yes`` or ``on``, in any case).

    Args:
        variable: One of the names above.
    """
    return os.environ.get(variable, "").strip().lower() in _TRUE
