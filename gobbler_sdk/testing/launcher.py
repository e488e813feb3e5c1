"""One process-wide test service, with the same calling conventions as pygobbler's ``start_gobbler``.

:func:`start_gobbler` starts a service the first time and afterwards, while it runs, returns the same
details with ``created=False``; :func:`stop_gobbler` stops it, and it is stopped at interpreter exit. For
several independent services use :class:`~gobbler_sdk.testing.service.GobblerService` directly.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Sequence

from .download import DEFAULT_VERSION
from .service import DEFAULT_STARTUP_TIMEOUT, GobblerService

__all__ = ["current_service", "start_gobbler", "stop_gobbler"]

_lock = threading.Lock()
_service: GobblerService | None = None
_details: tuple[str, str, str] | None = None
_exit_hook_registered = False


def start_gobbler(
    staging: str | os.PathLike[str] | None = None,
    registry: str | os.PathLike[str] | None = None,
    port: int | None = None,
    wait: float = 1,
    version: str = DEFAULT_VERSION,
    overwrite: bool = False,
    admin: Sequence[str] | str | None = None,
    extra_args: Sequence[str] = (),
    *,
    backend: str = "auto",
) -> tuple[bool, str, str, str]:
    """Start the process-wide test Gobbler service unless it is already running.

    Args:
        staging: Staging directory; a fresh world-writable temporary one when ``None``.
        registry: Registry directory; a fresh temporary one when ``None``.
        port: Port for the service; a free one when ``None``.
        wait: Kept for compatibility with pygobbler, where it is a fixed sleep. Here the call returns as
            soon as ``GET /info`` answers; ``wait`` only raises the give-up time, which is
            ``max(wait, 30)`` seconds.
        version: Gobbler release run by the binary backend when ``GOBBLER_BINARY`` is not set.
        overwrite: Download the release again even if it is cached.
        admin: Administrator user names; the current user when ``None``, nobody for an empty list.
        extra_args: Further command-line arguments for the service.
        backend: ``"auto"`` (default), ``"binary"`` or ``"embedded"``; see
            :mod:`gobbler_sdk.testing.service`.

    Returns:
        ``(created, staging, registry, url)``: whether this call started the service, its staging and
        registry paths, and its base URL (``http://127.0.0.1:<port>``, followed by the endpoint prefix
        when ``extra_args`` sets ``-prefix``). While a service started here is running, further calls ignore
        their arguments and return its details with ``created=False``. A service whose process died is
        replaced by a new one.

    Raises:
        ServiceStartError: When the service exits early or does not answer in time (with its stderr).
        DownloadError: When the release cannot be downloaded.
        UnsupportedPlatformError: When the binary backend needs a release this platform does not have.
    """
    global _service, _details, _exit_hook_registered
    with _lock:
        if _service is not None and _details is not None:
            if _service.running:
                return (False, *_details)
            _service.stop()
            _service, _details = None, None
        service = GobblerService(
            staging,
            registry,
            port=port,
            admin=admin,
            extra_args=extra_args,
            startup_timeout=max(float(wait), DEFAULT_STARTUP_TIMEOUT),
            backend=backend,
            version=version,
            overwrite=overwrite,
        )
        service.start()
        if not _exit_hook_registered:
            atexit.register(stop_gobbler)
            _exit_hook_registered = True
        _service = service
        _details = (str(service.staging), str(service.registry), service.url)
        return (True, *_details)


def stop_gobbler() -> None:
    """Stop the service started by :func:`start_gobbler`; a no-op when none is running.

    Temporary staging and registry directories that :func:`start_gobbler` created are removed; directories
    given by the caller are left alone.
    """
    global _service, _details
    with _lock:
        service, _service, _details = _service, None, None
    if service is not None:
        service.stop()


def current_service() -> GobblerService | None:
    """The service started by :func:`start_gobbler`, or ``None`` when there is none."""
    return _service
