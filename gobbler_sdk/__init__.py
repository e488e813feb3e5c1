"""gobbler-sdk: a typed, object-oriented Python SDK for Gobbler registries.

Start from a :class:`GobblerClient` and walk the registry through lazy handles::

    from gobbler_sdk import GobblerClient

    client = GobblerClient("http://localhost:8080")
    for version in client.project("my-project").asset("my-asset").versions():
        print(version.name, version.summary().upload_finish)

The embedded Gobbler service lives in :mod:`gobbler_sdk.server`; helpers that start services for tests
and development live in :mod:`gobbler_sdk.testing`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# The public names are imported on first access (PEP 562): the embedded service imports this package
# on every start and needs none of the client's dependencies (pydantic, httpx, ...), whose import
# would otherwise dominate its start-up time. Type checkers and IDEs read the eager imports below.
if TYPE_CHECKING:
    from ._cache_manager import CachedVersion, CacheManager, CacheReport, CorruptFile, PruneReport
    from ._downloads import DirectoryOptions, FileOptions, RangeOptions
    from ._progress import ProgressCallback, ProgressEvent
    from .aio import AsyncAsset, AsyncGobblerClient, AsyncProject, AsyncVersion
    from .changes import ChangeEvent, ChangeFeed, IncompleteHistoryWarning
    from .client import GobblerClient
    from .comparison import LinkChange, TableChange, UploadPlan, VerifyReport, VersionDiff
    from .errors import (
        ConfigurationError,
        GobblerError,
        IntegrityError,
        InvalidArgumentError,
        InvalidNameError,
        InvalidRequestError,
        LocalFileError,
        LocalFileExistsError,
        LocalFileNotFoundError,
        LocalIsADirectoryError,
        LocalNotADirectoryError,
        LocalPermissionError,
        NotCachedError,
        NotFoundError,
        OutcomeUnknownError,
        PermissionDeniedError,
        ReadOnlyError,
        ResponseTooLargeError,
        ServiceError,
        ServiceUnavailableError,
        UnsafePathError,
    )
    from .filesystem import GobblerFileSystem
    from .handles import Asset, Project, Version
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
    "AsyncAsset",
    "AsyncGobblerClient",
    "AsyncProject",
    "AsyncVersion",
    "CacheManager",
    "CacheReport",
    "CachedVersion",
    "ChangeEvent",
    "ChangeFeed",
    "ConfigurationError",
    "CorruptFile",
    "DirectoryOptions",
    "FileOptions",
    "GobblerClient",
    "GobblerError",
    "GobblerFileSystem",
    "IncompleteHistoryWarning",
    "IntegrityError",
    "InvalidArgumentError",
    "InvalidNameError",
    "InvalidRequestError",
    "LinkChange",
    "LinkTarget",
    "LocalFileError",
    "LocalFileExistsError",
    "LocalFileNotFoundError",
    "LocalIsADirectoryError",
    "LocalNotADirectoryError",
    "LocalPermissionError",
    "LocalTransport",
    "Manifest",
    "ManifestEntry",
    "NotCachedError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "Permissions",
    "ProgressCallback",
    "ProgressEvent",
    "Project",
    "PruneReport",
    "RangeOptions",
    "ReadOnlyError",
    "RemoteTransport",
    "RerouteChange",
    "ResponseTooLargeError",
    "ServiceError",
    "ServiceInfo",
    "ServiceUnavailableError",
    "Summary",
    "TableChange",
    "Transport",
    "UnsafePathError",
    "UploadPlan",
    "Uploader",
    "VerifyReport",
    "Version",
    "VersionDiff",
    "__version__",
]

# Which submodule defines each lazily imported public name; must list the same names as the block above.
_SOURCES: dict[str, str] = {
    "CacheManager": "._cache_manager",
    "CacheReport": "._cache_manager",
    "CachedVersion": "._cache_manager",
    "CorruptFile": "._cache_manager",
    "PruneReport": "._cache_manager",
    "DirectoryOptions": "._downloads",
    "FileOptions": "._downloads",
    "RangeOptions": "._downloads",
    "ProgressCallback": "._progress",
    "ProgressEvent": "._progress",
    "GobblerClient": ".client",
    "AsyncAsset": ".aio",
    "AsyncGobblerClient": ".aio",
    "AsyncProject": ".aio",
    "AsyncVersion": ".aio",
    "ChangeEvent": ".changes",
    "ChangeFeed": ".changes",
    "IncompleteHistoryWarning": ".changes",
    "LinkChange": ".comparison",
    "TableChange": ".comparison",
    "UploadPlan": ".comparison",
    "VerifyReport": ".comparison",
    "VersionDiff": ".comparison",
    "ConfigurationError": ".errors",
    "GobblerError": ".errors",
    "IntegrityError": ".errors",
    "InvalidArgumentError": ".errors",
    "InvalidNameError": ".errors",
    "InvalidRequestError": ".errors",
    "NotCachedError": ".errors",
    "LocalFileError": ".errors",
    "LocalFileExistsError": ".errors",
    "LocalFileNotFoundError": ".errors",
    "LocalIsADirectoryError": ".errors",
    "LocalNotADirectoryError": ".errors",
    "LocalPermissionError": ".errors",
    "NotFoundError": ".errors",
    "OutcomeUnknownError": ".errors",
    "PermissionDeniedError": ".errors",
    "ResponseTooLargeError": ".errors",
    "ReadOnlyError": ".errors",
    "ServiceError": ".errors",
    "ServiceUnavailableError": ".errors",
    "UnsafePathError": ".errors",
    "GobblerFileSystem": ".filesystem",
    "Asset": ".handles",
    "Project": ".handles",
    "Version": ".handles",
    "LinkTarget": ".models",
    "Manifest": ".models",
    "ManifestEntry": ".models",
    "Permissions": ".models",
    "RerouteChange": ".models",
    "ServiceInfo": ".models",
    "Summary": ".models",
    "Uploader": ".models",
    "LocalTransport": ".transports",
    "RemoteTransport": ".transports",
    "Transport": ".transports",
}


# Hidden from type checkers: they would take a module-level ``__getattr__`` to mean that any name exists,
# and stop reporting misspelt imports; they read the names from the ``TYPE_CHECKING`` block instead.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        """Import a public name from its submodule on first access and keep it as a module attribute.

        Raises:
            AttributeError: When ``name`` is not a public name of the package.
        """
        source = _SOURCES.get(name)
        if source is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source, __name__), name)
        # Cached so later lookups are plain attribute reads and never come back here.
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    """List the public names too, although most are not imported yet."""
    return sorted(set(globals()) | set(__all__))
