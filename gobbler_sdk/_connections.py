"""A client's live resources: HTTP connections, the service's ``/info``, the transports, the cache.

Everything is built on first use, under one lock, so two threads that start reading at once share one
``httpx.Client`` instead of each building one and leaking the other. Pickling (process pools, Dask
workers) carries the configuration only; the receiving side builds its own resources.
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import Any

import httpx

from ._cache import Cache
from ._config import ClientConfig
from ._fetcher import Answer, Fetcher, direct_connection_possible
from ._http import (
    RetryableStatus,
    check_identity,
    get_answer,
    is_retryable_status,
    make_http_client,
    with_retries,
)
from ._log import logger
from .errors import ConfigurationError, GobblerError, NotCachedError
from .models import ServiceInfo
from .transports import LocalTransport, RemoteTransport, Transport

__all__ = ["Connections"]


class Connections:
    """The resources one client shares between its reads and writes.

    Args:
        config: The client's settings.
    """

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.cache = Cache(config.cache_dir)
        self._lock = threading.RLock()
        self._http: httpx.Client | None = None
        self._info: ServiceInfo | None = None
        self._staging: str | None = config.staging
        self._registry: str | None = config.registry
        self._staging_checked: Path | None = None
        self._transport: Transport | None = None if isinstance(config.transport, str) else config.transport
        self._remote: RemoteTransport | None = None

    # ------------------------------------------------------------------ pickling

    def __getstate__(self) -> dict[str, Any]:
        # What was discovered travels too, so the other side need not ask the service again. A transport
        # handed in travels as it pickles (the shipped ones are built from a choice on each side).
        return {
            "config": self.config,
            "staging": self._staging,
            "registry": self._registry,
            "info": self._info,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["config"])  # type: ignore[misc]
        self._staging, self._registry, self._info = state["staging"], state["registry"], state["info"]

    # ------------------------------------------------------------------ the service

    @property
    def url(self) -> str:
        """The service's URL.

        Raises:
            ConfigurationError: When neither ``url`` nor ``GOBBLER_URL`` was given.
        """
        if self.config.url is None:
            raise ConfigurationError("no Gobbler URL: pass url= or set GOBBLER_URL")
        return self.config.url

    def http(self) -> httpx.Client:
        """The pooled ``httpx.Client`` (built on first use, once)."""
        with self._lock:
            if self._http is None:
                self._http = make_http_client(
                    self.url, timeout=self.config.timeout, concurrency=self.config.concurrency
                )
            return self._http

    def service_info(self) -> ServiceInfo:
        """``GET /info`` (asked once per client).

        Raises:
            ConfigurationError: When the URL answers but is not a Gobbler service.
            ServiceUnavailableError: When nothing answers at the URL.
            NotCachedError: Offline.
        """
        if self._info is not None:
            return self._info
        if self.config.offline:
            raise NotCachedError("the service's /info is not known, and offline mode sends no request")
        http = self.http()
        limits = self.config.limits

        def attempt() -> Answer:
            answer = get_answer(http, "/info", limits, "service info")
            if is_retryable_status(answer.status, answer.content_type):
                raise RetryableStatus(answer.status, answer.content_type, answer.body)
            return answer

        answer = with_retries(attempt, retries=self.config.retries, what="service info")
        document = check_identity(self.url, answer.status, answer.content_type, answer.body)
        info = ServiceInfo.model_validate(document)
        with self._lock:
            self._info = info
        return info

    @property
    def registry(self) -> str:
        """The registry directory (discovered from the service when not configured)."""
        if self._registry is None:
            self._registry = self.service_info().registry
        return self._registry

    def registry_if_known(self) -> str | None:
        """The registry's path as the service sees it, or ``None`` when it cannot be had."""
        try:
            return self.registry
        except GobblerError:
            return None

    @property
    def staging(self) -> Path:
        """The staging directory (discovered from the service when not configured)."""
        if self._staging is None:
            self._staging = self.service_info().staging
        return Path(self._staging)

    @property
    def configured_staging(self) -> Path | None:
        """The staging directory when known without asking the service (for offline cache pruning)."""
        return Path(self._staging) if self._staging is not None else None

    def checked_staging(self) -> Path:
        """The staging directory, checked once before the first request file or copy is written.

        Raises:
            ConfigurationError: When it does not exist, is not writable by this user, or is not the one
                the service reports in ``GET /info`` (both paths are named, with what to do).
        """
        if self._staging_checked is not None:
            return self._staging_checked
        configured = self._staging is not None
        staging = self.staging
        try:
            is_directory = stat.S_ISDIR(os.stat(staging).st_mode)
        except OSError as exc:
            is_directory = False
            if not isinstance(exc, FileNotFoundError):
                raise ConfigurationError(
                    f"cannot access the staging directory {staging} ({exc.strerror}): every user of the "
                    "service must be able to reach it and create files in it (mode 1777)"
                ) from exc
        if not is_directory:
            raise ConfigurationError(
                f"the staging directory {staging} does not exist or is not a directory on this machine: "
                "pass staging= (or set GOBBLER_STAGING) to the directory the service reports in GET /info, "
                "mounted here"
            )
        if configured:
            self._compare_staging(staging)
        if not os.access(staging, os.W_OK | os.X_OK):
            raise ConfigurationError(
                f"this user cannot create files or directories in the staging directory {staging}: it must "
                "be writable by every user of the service (mode 1777; ask the service's administrator to "
                f"run 'chmod 1777 {staging}')"
            )
        self._staging_checked = staging
        return staging

    def _compare_staging(self, staging: Path) -> None:
        try:
            reported = self.service_info().staging
        except GobblerError as exc:
            # The request itself will report an unreachable or broken service.
            logger.debug("cannot compare staging %s with the service's: %s", staging, exc)
            return
        if not os.path.exists(reported):
            # Possibly the same directory mounted under another path here: nothing to compare with.
            logger.info("the service's staging %s is not visible here; using %s", reported, staging)
            return
        if not os.path.samefile(reported, staging):
            raise ConfigurationError(
                f"the configured staging directory {staging} is not the service's staging directory "
                f"{reported} (from GET /info): the service would not find request files written here; "
                f"pass staging={reported!r} or leave staging unset to use the service's"
            )

    # ------------------------------------------------------------------ transports

    @property
    def transport(self) -> Transport:
        """The transport used for reads (resolved on first use)."""
        if self._transport is None:
            resolved = self._resolve_transport()
            with self._lock:
                if self._transport is None:
                    self._transport = resolved
        return self._transport

    def reader(self, force_remote: bool) -> Transport:
        """The transport for one read: the remote one when ``force_remote``, else the client's."""
        return self.remote() if force_remote else self.transport

    def _resolve_transport(self) -> Transport:
        choice, registry = self.config.transport, self._registry
        if self.config.offline and choice != "local":
            # Only a registry named here is read in place: discovering it would ask the service.
            mounted = (
                registry is not None and os.path.isdir(registry) and os.access(registry, os.R_OK | os.X_OK)
            )
            if choice == "auto" and mounted and registry is not None:
                return LocalTransport(registry)
            return self.remote()
        if choice == "remote":
            return self.remote()
        if choice == "local":
            if not os.path.isdir(self.registry):
                raise ConfigurationError(f"the registry {self.registry} is not a directory on this machine")
            return LocalTransport(self.registry)
        if registry is None and self.config.url is None:
            raise ConfigurationError("no Gobbler URL or registry: pass url= / registry= or set GOBBLER_URL")
        registry = self.registry
        if os.path.isdir(registry) and os.access(registry, os.R_OK | os.X_OK):
            logger.info("reading the registry directly at %s", registry)
            return LocalTransport(registry)
        logger.info("the registry %s is not readable here; reading through %s", registry, self.config.url)
        return self.remote()

    def remote(self) -> RemoteTransport:
        """The remote transport (built on first use, once)."""
        with self._lock:
            if self._remote is None:
                offline = self.config.offline
                fetcher = None
                # Offline, no URL is needed: nothing will be sent.
                if not offline and direct_connection_possible(self.url):
                    fetcher = Fetcher(self.url, timeout=self.config.timeout, limits=self.config.limits)
                elif not offline:
                    logger.info("a proxy is configured for %s: reads go through httpx", self.url)
                self._remote = RemoteTransport(
                    self.http,
                    self.cache,
                    retries=self.config.retries,
                    fetcher=fetcher,
                    offline=offline,
                    limits=self.config.limits,
                    identify=self.service_info,
                    origin=self.config.url,
                    revalidate_after=self.config.revalidate_after,
                )
            return self._remote

    def forget_version(self, key: str) -> None:
        """This client changed version ``key``: what the cache holds of it is confirmed before next use."""
        with self._lock:
            remote = self._remote
        if remote is not None:
            remote.forget(key)

    def close(self) -> None:
        """Close the HTTP connections and the cache's directory descriptors; they reopen when used again."""
        self.cache.forget()
        with self._lock:
            remote, self._remote = self._remote, None
            http, self._http = self._http, None
            if isinstance(self.config.transport, str):
                # Resolved again on the next read (the registry's path is remembered, so no request).
                self._transport = None
        if remote is not None:
            remote.close()
        if http is not None:
            http.close()
