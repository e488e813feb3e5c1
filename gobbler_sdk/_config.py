"""A client's settings: the constructor's arguments checked, completed from the environment, in one value.

The environment is read here and nowhere else in the client (through :mod:`gobbler_sdk.environment`):
an argument wins over its variable, and the staging and registry paths not given either way are asked of
the service later (see :class:`~gobbler_sdk._connections.Connections`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import platformdirs

from . import environment
from ._limits import ReadLimits
from .errors import ConfigurationError
from .transports import Transport

__all__ = ["DEFAULT_CONCURRENCY", "DEFAULT_WINDOW", "MAX_WINDOW", "ClientConfig", "TransportChoice"]

# Parallel copies (and a fixed download window's size) when ``concurrency`` is not given.
DEFAULT_CONCURRENCY = 8
# The adaptive download window's starting size. Measured (issue 24, 2,000 files of 1-4 KiB against the
# embedded service through the benchmark's latency proxy, medians of 7 rounds, load average about 2 on 2
# cores): starting at 8, 16 and 32 took 0.48 / 0.45 / 0.44 s on loopback, 0.67 / 0.71 / 0.60 s at 2 ms and
# 1.13 / 1.09 / 1.04 s at 20 ms, against 0.17, 0.39 and 0.94 s for curl --parallel-max 64: from 32 the
# 20 ms case is within 1.1x of curl, and loopback is no slower (the window never shrinks below its start,
# and grows only while a doubling pays 1.5x).
DEFAULT_WINDOW = 32
# The adaptive download window's ceiling: 64 requests in flight filled a 20 ms round trip (performance page).
MAX_WINDOW = 64

TransportChoice = Literal["auto", "local", "remote"]


def _path(value: str | os.PathLike[str] | None, variable: str) -> str | None:
    return os.fspath(value) if value is not None else environment.value(variable)


@dataclass(frozen=True)
class ClientConfig:
    """What a client was configured with (arguments over environment), checked.

    Attributes:
        url: The service's URL without a trailing ``/``, or ``None``.
        staging: The staging directory when configured.
        registry: The registry directory when configured.
        cache_dir: The download cache's root.
        transport: ``"auto"``, ``"local"``, ``"remote"`` or a transport instance.
        timeout: Seconds for connecting and for each wait for bytes.
        concurrency: Parallel copies, and the download window's starting size.
        adaptive_window: Whether the download window may grow (``concurrency`` was not given).
        retries: Further attempts for idempotent reads.
        offline: Serve reads from the cache only.
        limits: Deadlines and the size cap of answers.
        submit_timeout: Seconds a submission waits for its answer (``None``: forever).
        revalidate_after: Seconds after which a cached version is confirmed with the service again.
    """

    url: str | None
    staging: str | None
    registry: str | None
    cache_dir: str
    transport: TransportChoice | Transport
    timeout: float
    concurrency: int
    adaptive_window: bool
    retries: int
    offline: bool
    limits: ReadLimits
    submit_timeout: float | None
    revalidate_after: float

    @classmethod
    def build(
        cls,
        *,
        url: str | None,
        staging: str | os.PathLike[str] | None,
        registry: str | os.PathLike[str] | None,
        cache: str | os.PathLike[str] | None,
        transport: TransportChoice | Transport,
        timeout: float,
        concurrency: int | None,
        retries: int,
        offline: bool | None,
        min_read_rate: float,
        max_response_size: int,
        submit_timeout: float | None,
        revalidate_after: float,
    ) -> ClientConfig:
        """Check the constructor's arguments and complete them from the environment.

        Raises:
            ConfigurationError: Naming the first unusable argument.
        """
        _check(url, transport, timeout, concurrency, retries)
        if (
            min_read_rate <= 0
            or max_response_size <= 0
            or (submit_timeout is not None and submit_timeout <= 0)
        ):
            raise ConfigurationError("min_read_rate, max_response_size and submit_timeout must be positive")
        resolved_url = (url or environment.value(environment.URL) or "").rstrip("/") or None
        if resolved_url is not None:
            parts = urlsplit(resolved_url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigurationError(
                    f"{resolved_url!r} is not an http:// or https:// URL of a Gobbler service"
                    " (such as 'http://host:8080')"
                )
        return cls(
            url=resolved_url,
            staging=_path(staging, environment.STAGING),
            registry=_path(registry, environment.REGISTRY),
            cache_dir=_path(cache, environment.CACHE) or platformdirs.user_cache_dir("gobbler-sdk"),
            transport=transport,
            timeout=timeout,
            concurrency=concurrency or DEFAULT_CONCURRENCY,
            adaptive_window=concurrency is None,
            retries=retries,
            offline=bool(offline) if offline is not None else environment.flag(environment.OFFLINE),
            limits=ReadLimits(timeout, min_read_rate=min_read_rate, max_response_size=max_response_size),
            submit_timeout=submit_timeout,
            revalidate_after=revalidate_after,
        )


def _check(url: object, transport: object, timeout: object, concurrency: object, retries: object) -> None:
    """Refuse unusable constructor arguments with a :class:`ConfigurationError` naming the argument."""
    if url is not None and not isinstance(url, str):
        raise ConfigurationError(f"url must be a string such as 'http://host:8080', not {type(url).__name__}")
    if isinstance(transport, str):
        if transport not in ("auto", "local", "remote"):
            raise ConfigurationError(
                f"transport must be 'auto', 'local', 'remote' or a Transport, not {transport!r}"
            )
    elif not isinstance(transport, Transport):
        raise ConfigurationError(
            f"transport must be 'auto', 'local', 'remote' or a Transport, not a {type(transport).__name__}"
        )
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ConfigurationError(f"timeout must be a positive number of seconds, not {timeout!r}")
    if concurrency is not None and (
        isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
    ):
        raise ConfigurationError(f"concurrency must be an integer of at least 1, not {concurrency!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigurationError(f"retries must be an integer of at least 0, not {retries!r}")
