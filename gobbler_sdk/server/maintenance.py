"""Daily background maintenance, as the reference service runs it: staging, log and probation purges.

Every problem is logged and skipped: one unreadable entry must not stop the rest of the clean-up.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from .accounting import child_directories
from .documents import finish_time, read_summary
from .errors import RequestError
from .journal import LOGS
from .locks import LOCK_NEWDIR
from .probation import reject_version
from .trees import remove_tree

if TYPE_CHECKING:
    from .service import Service

__all__ = ["MAX_AGE", "purge_old_entries", "purge_probation", "run"]

log = logging.getLogger("gobbler_sdk.server")

MAX_AGE = timedelta(days=7)


def run(service: Service, now: datetime | None = None) -> None:
    """Run the three purges once.

    Args:
        service: The running service.
        now: The moment to measure ages against (timezone-aware, or naive local time); the current time
            when ``None``.
    """
    moment = now if now is not None else datetime.now(timezone.utc)
    if moment.tzinfo is None:
        moment = moment.astimezone()
    purges: list[tuple[str, Callable[[], None]]] = [
        ("staging", lambda: purge_old_entries(service.config.staging, moment)),
        ("log", lambda: purge_old_entries(service.path(LOGS), moment)),
    ]
    if service.config.probation_days >= 0:
        purges.append(("probation", lambda: purge_probation(service, moment)))
    for name, purge in purges:
        # Each purge handles its own errors; this only keeps an unforeseen one in a purge from
        # skipping the others, every day again.
        try:
            purge()
        except Exception:
            log.exception("the %s purge failed", name)


def purge_old_entries(directory: str, now: datetime) -> None:
    """Remove every top-level entry of ``directory`` whose own ``lstat`` mtime is over 7 days before ``now``.

    Directories are judged by their own mtime, not their contents'; symlinks are removed, never followed.
    A directory is removed at any depth (:func:`~gobbler_sdk.server.trees.remove_tree`), so one deep tree
    in staging cannot stop the purge.
    """
    cutoff = now.timestamp() - MAX_AGE.total_seconds()
    try:
        names = os.listdir(directory)
    except OSError as exc:
        log.error("failed to list %r for purging; %s", directory, exc)
        return
    for name in names:
        path = os.path.join(directory, name)
        try:
            info = os.lstat(path)
            if info.st_mtime >= cutoff:
                continue
            remove_tree(path)
        except OSError as exc:
            log.error("failed to purge %r; %s", path, exc)


def purge_probation(service: Service, now: datetime) -> None:
    """Reject every probational version that finished more than ``probation_days`` days before ``now``."""
    lifetime = timedelta(days=service.config.probation_days)
    with ExitStack() as registry_stack:
        try:
            service.enter_registry(registry_stack, exclusive=False)
            projects = child_directories(service.registry)
        except RequestError as exc:
            log.error("failed to list projects for the probation purge; %s", exc.reason)
            return
        for project in projects:
            try:
                _purge_project(service, project, now, lifetime)
            except RequestError as exc:
                log.error("probation purge of project %r failed; %s", project, exc.reason)


def _purge_project(service: Service, project: str, now: datetime, lifetime: timedelta) -> None:
    with ExitStack() as stack:
        project_dir = service.path(project)
        with service.locks.hold(service.registry, exclusive=False, name=LOCK_NEWDIR):
            if not os.path.isdir(project_dir):
                return
            stack.enter_context(service.locks.hold(project_dir, exclusive=False))
        for asset in child_directories(project_dir):
            asset_dir = os.path.join(project_dir, asset)
            try:
                with ExitStack() as asset_stack:
                    with service.locks.hold(project_dir, exclusive=False, name=LOCK_NEWDIR):
                        if not os.path.isdir(asset_dir):
                            continue
                        asset_stack.enter_context(service.locks.hold(asset_dir, exclusive=True))
                    _purge_asset(service, project_dir, asset_dir, now, lifetime)
            except RequestError as exc:
                log.error("probation purge of asset %r failed; %s", asset_dir, exc.reason)


def _purge_asset(
    service: Service, project_dir: str, asset_dir: str, now: datetime, lifetime: timedelta
) -> None:
    for version in child_directories(asset_dir):
        version_dir = os.path.join(asset_dir, version)
        try:
            summary = read_summary(version_dir)
            if summary.get("on_probation") is not True:
                continue
            if now - finish_time(summary) > lifetime:
                reject_version(service.locks, project_dir, version_dir, force=False)
        except RequestError as exc:
            log.error("probation purge of %r failed; %s", version_dir, exc.reason)
