"""gobbler-sdk: a typed, object-oriented Python SDK for Gobbler registries.

Start from a :class:`GobblerClient` and walk the registry through lazy handles::

    from gobbler_sdk import GobblerClient

    client = GobblerClient("http://localhost:8080")
    for version in client.project("my-project").asset("my-asset").versions():
        print(version.name, version.summary().upload_finish)

The embedded Gobbler service lives in :mod:`gobbler_sdk.server`; helpers that start services for tests
and development live in :mod:`gobbler_sdk.testing`.
"""

from ._progress import ProgressCallback, ProgressEvent
from .client import GobblerClient
from .errors import (
    ConfigurationError,
    GobblerError,
    IntegrityError,
    InvalidNameError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
    ServiceUnavailableError,
    UnsafePathError,
)
from .handles import Asset, Project, Version, VersionPath
from .models import (
    LinkTarget,
    Manifest,
    ManifestEntry,
    Permissions,
    RerouteChange,
    ServiceInfo,
    Summary,
    Uploader,
)
from .transports import LocalTransport, RemoteTransport, Transport

__version__ = "0.1.0"

__all__ = [
    "Asset",
    "ConfigurationError",
    "GobblerClient",
    "GobblerError",
    "IntegrityError",
    "InvalidNameError",
    "InvalidRequestError",
    "LinkTarget",
    "LocalTransport",
    "Manifest",
    "ManifestEntry",
    "NotFoundError",
    "PermissionDeniedError",
    "Permissions",
    "ProgressCallback",
    "ProgressEvent",
    "Project",
    "RemoteTransport",
    "RerouteChange",
    "ServiceError",
    "ServiceInfo",
    "ServiceUnavailableError",
    "Summary",
    "Transport",
    "UnsafePathError",
    "Uploader",
    "Version",
    "VersionPath",
    "__version__",
]
