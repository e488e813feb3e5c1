"""The pooled clients behind the functional API: one :class:`~gobbler_sdk.GobblerClient` per configuration.

Every flat function names its service and directories explicitly, as pygobbler's do. Building a client per
call would throw away the connection pool and the discovered transport, so clients are kept, keyed by the
exact arguments that configure them, for the life of the process (or until :func:`forget_clients`).
"""

from __future__ import annotations

import os
import threading
from urllib.parse import quote_plus

import platformdirs

from ..client import GobblerClient

__all__ = ["cache_directory", "client_for", "forget_clients"]

_Key = tuple[str | None, str | None, str | None, str | None, bool]

_lock = threading.Lock()
_clients: dict[_Key, GobblerClient] = {}


def cache_directory(cache: str | None, url: str | None) -> str | None:
    """Where files downloaded from ``url`` are cached.

    The layout is pygobbler's, ``<cache>/<url quoted with quote_plus>/REGISTRY/<path>``, so the same
    arguments give the same local paths and two services never share cached files. Without ``cache`` the
    root is gobbler-sdk's user cache directory.
    """
    if url is None:
        return cache
    root = cache if cache is not None else platformdirs.user_cache_dir("gobbler-sdk")
    return os.path.join(root, quote_plus(url))


def client_for(
    *,
    url: str | None = None,
    registry: str | None = None,
    staging: str | None = None,
    cache: str | None = None,
    remote: bool = False,
) -> GobblerClient:
    """The shared client for one configuration, created on first use.

    Args:
        url: The service's REST API.
        registry: The registry directory (read directly when mounted, unless ``remote``).
        staging: The staging directory.
        cache: Root of the download cache, as pygobbler's ``cache`` argument.
        remote: Read through the REST API even when the registry is mounted (pygobbler's ``force_remote``).
    """
    key: _Key = (url, registry, staging, cache, remote)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = GobblerClient(
                url,
                staging=staging,
                registry=registry,
                cache=cache_directory(cache, url),
                transport="remote" if remote else "auto",
            )
            _clients[key] = client
        return client


def forget_clients(url: str | None = None) -> None:
    """Close and drop the shared clients of ``url`` (of every service when ``None``)."""
    with _lock:
        keys = [key for key in _clients if url is None or key[0] == url]
        dropped = [_clients.pop(key) for key in keys]
    for client in dropped:
        client.close()
