"""Starting Gobbler services for tests and local development.

- :func:`start_gobbler` / :func:`stop_gobbler`: one process-wide service, pygobbler-style.
- :class:`GobblerService`: any number of independent services, each a context manager.
- pytest fixtures ``gobbler_service`` and ``gobbler_project`` (:mod:`gobbler_sdk.testing.plugin`, loaded
  automatically through the ``pytest11`` entry point).
- :func:`serve_in_foreground`: a service in the foreground for manual experiments (what
  ``python -m gobbler_sdk.testing serve`` and ``gobbler-sdk serve`` run).
"""

from .download import (
    DEFAULT_VERSION,
    DownloadError,
    UnsupportedPlatformError,
    asset_name,
    cache_directory,
    cached_binary,
    download_binary,
    release_url,
)
from .foreground import serve_in_foreground
from .launcher import current_service, start_gobbler, stop_gobbler
from .service import (
    BACKENDS,
    GobblerRequestError,
    GobblerService,
    ServiceStartError,
    free_port,
    select_backend,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_VERSION",
    "DownloadError",
    "GobblerRequestError",
    "GobblerService",
    "ServiceStartError",
    "UnsupportedPlatformError",
    "asset_name",
    "cache_directory",
    "cached_binary",
    "current_service",
    "download_binary",
    "free_port",
    "release_url",
    "select_backend",
    "serve_in_foreground",
    "start_gobbler",
    "stop_gobbler",
]
