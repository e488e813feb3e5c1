"""The service object: configuration, shared state, request dispatch and the lock scopes actions use.

The HTTP layer (:mod:`.http`) knows nothing about actions; it hands ``/new/{name}`` to
:meth:`Service.submit`, which checks the request file and runs the handler registered for its action.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

from .config import ServerConfig
from .errors import RequestError, stat_exists
from .goerrors import go_quote
from .locks import LOCK_NEWDIR, LockManager
from .request_files import ReplayTable, Request, check_request_file

__all__ = ["Handler", "Service"]

log = logging.getLogger("gobbler_sdk.server")

Handler = Callable[["Service", Request], dict[str, Any]]


def _health_check(service: Service, request: Request) -> dict[str, Any]:
    return {}


class Service:
    """State shared by every request of one service process.

    Args:
        config: Service configuration.
        lock_timeout: Seconds before a lock wait fails (60 in the reference).
    """

    def __init__(self, config: ServerConfig, *, lock_timeout: float = 60.0) -> None:
        self.config = config
        self.locks = LockManager(lock_timeout)
        self.replay = ReplayTable()
        self.pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="gobbler-worker")
        self._actions: list[tuple[str, Handler]] = _action_table()

    # ------------------------------------------------------------------ requests

    def submit(self, name: str) -> tuple[int, dict[str, Any]]:
        """Process ``POST /new/{name}`` and return ``(status, JSON body)``."""
        try:
            info = check_request_file(self.config, self.replay, name)
            handler = self._handler_for(name)
            log.info("processing %s", name)
            extra = handler(self, Request(self.config, name, info))
        except RequestError as exc:
            log.warning("request %s failed with %d: %s", name, exc.status, exc.reason)
            return exc.status, {"reason": exc.reason, "status": "ERROR"}
        except Exception as exc:  # a bug must not kill the connection handler
            log.exception("request %s crashed", name)
            return 500, {"reason": f"internal error; {exc}", "status": "ERROR"}
        return 200, {"status": "SUCCESS", **extra}

    def _handler_for(self, name: str) -> Handler:
        kind = name[len("request-") :]
        for action, handler in self._actions:
            if kind.startswith(action + "-"):
                return handler
        raise RequestError(400, "invalid request type")

    # ------------------------------------------------------------------ paths

    @property
    def registry(self) -> str:
        """Registry root as configured."""
        return self.config.registry

    def path(self, *parts: str) -> str:
        """Join registry-relative parts onto the registry root."""
        return os.path.join(self.config.registry, *parts)

    # ------------------------------------------------------------------ lock scopes

    def enter_registry(self, stack: ExitStack, *, exclusive: bool, context: str | None = None) -> None:
        """Hold the registry's ``..LOCK`` for the rest of ``stack``; ``context`` prefixes a failure."""
        try:
            stack.enter_context(self.locks.hold(self.registry, exclusive=exclusive))
        except RequestError as exc:
            raise (exc.wrap(context) if context else exc) from None

    def hold(self, stack: ExitStack, directory: str, context: str, *, exclusive: bool) -> None:
        """Hold ``directory``'s ``..LOCK`` for the rest of ``stack``; a failure says ``<context> "<dir>"``."""
        try:
            stack.enter_context(self.locks.hold(directory, exclusive=exclusive))
        except RequestError as exc:
            raise exc.wrap(f"{context} {go_quote(directory)}") from None

    def enter_project(
        self,
        stack: ExitStack,
        project: str,
        *,
        exclusive: bool,
        missing_ok: bool = False,
        context: str = "failed to lock project directory",
    ) -> str | None:
        """Registry shared, then the project's ``..LOCK`` (checked for existence under NEWDIR shared).

        Existence is ``stat``'s, as in the reference: a regular file in the project's place is locked
        like a directory and the wait times out. ``context`` is how the action words a lock failure.

        Returns:
            The project directory, or ``None`` when it is missing and ``missing_ok``.

        Raises:
            RequestError: 404 ``project <P> does not exist`` when missing and not ``missing_ok``.
        """
        self.enter_registry(stack, exclusive=False)
        project_dir = self.path(project)
        with self.locks.hold(self.registry, exclusive=False, name=LOCK_NEWDIR):
            # The deletions word their stat failures with the kind of directory.
            label = "project directory " if missing_ok else ""
            if not stat_exists(project_dir, label):
                if missing_ok:
                    return None
                raise RequestError(404, f"project {project} does not exist")
            self.hold(stack, project_dir, context, exclusive=exclusive)
        return project_dir

    def enter_asset(
        self,
        stack: ExitStack,
        project_dir: str,
        project: str,
        asset: str,
        *,
        missing_ok: bool = False,
        context: str = "failed to lock asset directory",
    ) -> str | None:
        """Lock an existing asset exclusively (checked with ``stat`` under the project's NEWDIR shared).

        Returns:
            The asset directory, or ``None`` when it is missing and ``missing_ok``.

        Raises:
            RequestError: 404 ``asset <A> does not exist in project <P>``.
        """
        asset_dir = os.path.join(project_dir, asset)
        with self.locks.hold(project_dir, exclusive=False, name=LOCK_NEWDIR):
            label = "asset directory " if missing_ok else ""
            if not stat_exists(asset_dir, label):
                if missing_ok:
                    return None
                raise RequestError(404, f"asset {asset} does not exist in project {project}")
            self.hold(stack, asset_dir, context, exclusive=True)
        return asset_dir

    @staticmethod
    def version_dir(
        asset_dir: str, project: str, asset: str, version: str, *, missing_ok: bool = False
    ) -> str | None:
        """Return an existing version directory inside a locked asset (existence as ``stat`` tells).

        Raises:
            RequestError: 404 ``version <V> does not exist for asset <A> of project <P>``.
        """
        version_dir = os.path.join(asset_dir, version)
        label = "version directory " if missing_ok else ""
        if not stat_exists(version_dir, label):
            if missing_ok:
                return None
            raise RequestError(
                404, f"version {version} does not exist for asset {asset} of project {project}"
            )
        return version_dir

    def close(self) -> None:
        """Stop the worker pool."""
        self.pool.shutdown(wait=False, cancel_futures=True)


def _action_table() -> list[tuple[str, Handler]]:
    # Imported here so that each action module can import this one for typing without a cycle.
    from . import delete, permissions, probation, projects, refresh, reroute, upload, versions

    # The order matters: the first action whose name (plus "-") prefixes the request wins.
    return [
        ("upload", upload.upload),
        ("refresh_latest", refresh.refresh_latest),
        ("refresh_usage", refresh.refresh_usage),
        ("set_permissions", permissions.set_permissions),
        ("approve_probation", probation.approve_probation),
        ("reject_probation", probation.reject_probation),
        ("create_project", projects.create_project),
        ("delete_project", delete.delete_project),
        ("delete_asset", delete.delete_asset),
        ("delete_version", delete.delete_version),
        ("reroute_links", reroute.reroute_links),
        ("reindex_version", versions.reindex_version),
        ("validate_version", versions.validate_version),
        ("health_check", _health_check),
    ]
