"""Fetching a released Gobbler executable once and keeping it in the user data directory.

Releases publish one executable per platform as ``gobbler-{os}-{arch}`` under
``{base_url}/{version}/``. The base URL defaults to the project's GitHub releases and can be redirected
(for mirrors, air-gapped CI or tests) with the ``GOBBLER_RELEASE_URL`` environment variable or the
``base_url`` argument. Executables are cached as ``gobbler-{os}-{arch}-{version}`` in
``platformdirs.user_data_dir("gobbler-sdk")``, or in ``GOBBLER_SDK_DATA_DIR`` when that is set.
"""

from __future__ import annotations

import contextlib
import os
import platform
import tempfile
from pathlib import Path
from typing import BinaryIO

import httpx
import platformdirs

from .. import environment

__all__ = [
    "DEFAULT_RELEASE_URL",
    "DEFAULT_VERSION",
    "DownloadError",
    "UnsupportedPlatformError",
    "asset_name",
    "cache_directory",
    "cached_binary",
    "download_binary",
    "release_url",
]

DEFAULT_VERSION = "0.5.0"
DEFAULT_RELEASE_URL = "https://github.com/ArtifactDB/gobbler/releases/download"

RELEASE_URL_VARIABLE = environment.RELEASE_URL
DATA_DIR_VARIABLE = environment.DATA_DIR

_SYSTEMS = {"Linux": "linux", "Darwin": "darwin"}
# platform.machine() spells the same architecture differently across systems.
_MACHINES = {"x86_64": "amd64", "amd64": "amd64", "AMD64": "amd64", "arm64": "arm64", "aarch64": "arm64"}

_CHUNK = 1 << 16


class UnsupportedPlatformError(RuntimeError):
    """No Gobbler release exists for this operating system or CPU architecture."""


class DownloadError(RuntimeError):
    """The release could not be downloaded (HTTP error status or broken transfer)."""


def asset_name(system: str | None = None, machine: str | None = None) -> str:
    """Name of the release asset for a platform, e.g. ``gobbler-linux-amd64``.

    Args:
        system: Value of :func:`platform.system`; the running system when ``None``.
        machine: Value of :func:`platform.machine`; the running machine when ``None``.

    Raises:
        UnsupportedPlatformError: When Gobbler publishes no executable for that platform.
    """
    system = platform.system() if system is None else system
    machine = platform.machine() if machine is None else machine
    os_name = _SYSTEMS.get(system)
    if os_name is None:
        raise UnsupportedPlatformError(
            f"no Gobbler release for operating system {system!r} (available: Linux, macOS); "
            "use the embedded service or set GOBBLER_BINARY"
        )
    arch = _MACHINES.get(machine)
    if arch is None:
        raise UnsupportedPlatformError(
            f"no Gobbler release for CPU architecture {machine!r} (available: x86_64, arm64); "
            "use the embedded service or set GOBBLER_BINARY"
        )
    return f"gobbler-{os_name}-{arch}"


def _check_version(version: str) -> None:
    # The version becomes part of a URL path and of a file name.
    if not version or "/" in version or "\\" in version or version.startswith("."):
        raise ValueError(f"invalid Gobbler version {version!r}")


def release_url(
    version: str = DEFAULT_VERSION, base_url: str | None = None, *, asset: str | None = None
) -> str:
    """URL of the release asset for ``version``.

    Args:
        version: Gobbler release tag, e.g. ``"0.5.0"``.
        base_url: Releases base URL; ``GOBBLER_RELEASE_URL`` or the GitHub releases when ``None``.
        asset: Asset name; the running platform's when ``None``.
    """
    _check_version(version)
    if base_url is None:
        base_url = environment.value(RELEASE_URL_VARIABLE) or DEFAULT_RELEASE_URL
    return f"{base_url.rstrip('/')}/{version}/{asset or asset_name()}"


def cache_directory() -> Path:
    """Directory holding downloaded executables (not created by this function)."""
    override = environment.value(DATA_DIR_VARIABLE)
    if override:
        return Path(override)
    return Path(platformdirs.user_data_dir("gobbler-sdk", appauthor=False))


def cached_binary(version: str = DEFAULT_VERSION, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the executable of ``version`` for this platform is (or would be) cached.

    Raises:
        UnsupportedPlatformError: When Gobbler publishes no executable for this platform.
    """
    _check_version(version)
    directory = Path(cache_dir) if cache_dir is not None else cache_directory()
    return directory / f"{asset_name()}-{version}"


def download_binary(
    version: str = DEFAULT_VERSION,
    *,
    overwrite: bool = False,
    base_url: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
) -> Path:
    """Return the cached executable of ``version``, downloading it first if needed.

    The body is streamed into a temporary file next to the final path, made executable (0755) and then
    renamed over the final path in one step, so a concurrent or interrupted download never leaves a
    partial executable under the final name.

    Args:
        version: Gobbler release tag.
        overwrite: Download again even when the executable is already cached.
        base_url: Releases base URL; ``GOBBLER_RELEASE_URL`` or the GitHub releases when ``None``.
        cache_dir: Cache directory; :func:`cache_directory` when ``None``.
        timeout: Network timeout in seconds for connecting and for each read.

    Raises:
        UnsupportedPlatformError: When Gobbler publishes no executable for this platform.
        DownloadError: When the server answers with an error status or the transfer breaks off.
    """
    target = cached_binary(version, cache_dir)
    if target.is_file() and not overwrite:
        return target
    url = release_url(version, base_url)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as output:
            _stream_into(url, output, timeout)
            output.flush()
            os.fsync(output.fileno())
        os.chmod(temporary, 0o755)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return target


def _stream_into(url: str, output: BinaryIO, timeout: float) -> None:
    try:
        # GitHub answers release downloads with a redirect to its storage host.
        with httpx.stream("GET", url, follow_redirects=True, timeout=timeout) as response:
            if response.status_code >= 300:
                raise DownloadError(f"failed to download {url}: HTTP {response.status_code}")
            for chunk in response.iter_bytes(_CHUNK):
                output.write(chunk)
    except httpx.HTTPError as exc:
        raise DownloadError(f"failed to download {url}: {exc}") from exc
