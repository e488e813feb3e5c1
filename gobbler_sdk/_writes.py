"""Writes: request payloads built and checked, then submitted through staging (never resent).

Every change to the registry is a request file in staging and a ``POST /new/{name}``
(:mod:`gobbler_sdk._submit`); an upload first copies the tree into a fresh staging directory
(:mod:`gobbler_sdk._staging`) unless it already lies there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ._arguments import items_of
from ._connections import Connections
from ._documents import Documents
from ._log import logger
from ._pathsafety import checked_relative
from ._progress import ProgressCallback
from ._staging import (
    ABANDONED_AFTER,
    StagingCopy,
    allocate_directory,
    check_tree,
    copy_plan,
    is_direct_child,
    sweep_abandoned,
    warn_left_out,
)
from ._submit import OutcomeCheck, Submitter, expected_uploader, removal_outcome, upload_outcome
from .errors import ConfigurationError, InvalidRequestError, error_from_oserror
from .models import Uploader

__all__ = ["Writes", "owner_list", "uploader_list"]


def _uploader_json(entry: Uploader | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(entry, Uploader):
        return entry.to_json()
    try:
        data = Uploader.model_validate(dict(entry)).to_json()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors())
        raise InvalidRequestError(f"invalid uploader entry {entry!r}: {problems}") from None
    # The service stores 'until' verbatim: the caller's spelling (e.g. nanoseconds) must reach it unchanged.
    if isinstance(entry.get("until"), str):
        data["until"] = entry["until"]
    return data


def owner_list(owners: Sequence[str] | None) -> list[str] | None:
    """``owners`` as a list of user names, or ``None``; a bare string is refused, not split."""
    return None if owners is None else items_of(owners, "owners", item=str, noun="user names")


def uploader_list(uploaders: Sequence[Uploader | Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    """``uploaders`` as the service's JSON entries, or ``None``; a single entry is refused, not iterated."""
    if uploaders is None:
        return None
    entries = items_of(uploaders, "uploaders", item=(Uploader, Mapping), noun="uploader entries")
    return [_uploader_json(entry) for entry in entries]


class Writes:
    """Changes the registry for one client.

    Args:
        connections: The client's resources (staging, HTTP, settings).
        documents: Its document store (current permissions, manifests to clone).
    """

    def __init__(self, connections: Connections, documents: Documents) -> None:
        self._connections = connections
        self._documents = documents

    def submit(
        self, action: str, payload: dict[str, Any], context: str, *, check: OutcomeCheck | None = None
    ) -> dict[str, Any]:
        """Write a request file and submit it; the service's answer (see :class:`Submitter`).

        ``check`` tells from the registry whether the action was applied, when the answer cannot (another
        process posted the request first, or the connection broke after it was sent).

        Raises:
            ConfigurationError: Offline, or when staging is unusable.
            OutcomeUnknownError: When the answer did not come (the request is never resent).
        """
        config = self._connections.config
        if config.offline:
            raise ConfigurationError(f"{context}: offline mode sends no request to the service")
        logger.info("submitting %s (%s)", action, context)
        submitter = Submitter(
            self._connections.http(),
            self._connections.checked_staging(),
            connect_retries=config.retries,
            wait=config.submit_timeout,
            max_response_size=config.limits.max_response_size,
        )
        changed = _changed(action, payload)
        try:
            return submitter.submit(action, payload, context=context, check=check)
        finally:
            if changed is not None:
                # Whatever the outcome, what this client knew of it may be stale now.
                self._documents.forget(changed)
                self._connections.forget_version(changed)

    def set_permissions(
        self,
        parts: tuple[str, ...],
        owners: Sequence[str] | None,
        uploaders: Sequence[Uploader | Mapping[str, Any]] | None,
        global_write: bool | None,
        append: bool,
        dry_run: bool,
        spoof: str | None,
    ) -> dict[str, Any]:
        """Change a project's (one part) or an asset's (two parts) permissions; the fields sent."""
        owners, new_uploaders = owner_list(owners), uploader_list(uploaders)
        permissions: dict[str, Any] = {}
        if append and (owners is not None or new_uploaders is not None):
            current = self._documents.permissions(parts, False)
            if current is None:
                # A project always has permissions; an asset without its own has none to add to.
                missing = self._documents.missing(parts[:1], False)
                if len(parts) == 1 or missing is not None:
                    raise missing or self._documents.not_found(parts, False, "permissions")
            if owners is not None:
                known = list(current.owners) if current is not None else []
                permissions["owners"] = known + [o for o in owners if o not in set(known)]
            if new_uploaders is not None:
                # Stored entries are resent as stored: the model would respell their 'until' timestamps.
                stored = self._documents.json("/".join(parts) + "/..permissions", False) or {}
                permissions["uploaders"] = list(stored.get("uploaders") or []) + new_uploaders
        else:
            if owners is not None:
                permissions["owners"] = list(owners)
            if new_uploaders is not None:
                permissions["uploaders"] = new_uploaders
        payload: dict[str, Any] = {"project": parts[0]}
        if len(parts) > 1:
            payload["asset"] = parts[1]
        elif global_write is not None:
            permissions["global_write"] = global_write
        if dry_run:
            return permissions
        payload["permissions"] = permissions
        if spoof is not None:
            payload["spoof"] = spoof
        self.submit("set_permissions", payload, f"set permissions of {'/'.join(parts)}")
        return permissions

    def remove(self, parts: tuple[str, ...], payload: dict[str, Any]) -> None:
        """Delete a project, asset or version; the registry tells whether it happened if the answer cannot."""
        action = ("delete_project", "delete_asset", "delete_version")[len(parts) - 1]
        kind = ("project", "asset", "version")[len(parts) - 1]
        removed = removal_outcome(lambda: self._documents.exists(parts, True))
        self.submit(action, payload, f"remove {kind} {'/'.join(parts)}", check=removed)

    def allocate_upload_directory(self, *, create: bool) -> Path:
        """A fresh directory directly inside staging."""
        return allocate_directory(self._connections.checked_staging(), create=create)

    def upload(
        self,
        parts: tuple[str, ...],
        directory: Path,
        *,
        probation: bool,
        consume: bool | None,
        ignore_dot: bool,
        spoof: str | None,
        concurrency: int | None,
        progress: bool | ProgressCallback | None,
        follow_symlinks: bool,
        check: bool = True,
    ) -> None:
        """Upload ``directory`` as version ``parts`` (see :meth:`Asset.upload <gobbler_sdk.Asset.upload>`)."""
        key = "/".join(parts)
        if self._connections.config.offline:
            raise ConfigurationError(f"upload {key}: offline mode sends no request to the service")
        if not directory.is_dir():
            raise InvalidRequestError(f"cannot upload {directory}: not a directory")
        staging = self._connections.checked_staging()
        if check and self._documents.exists(parts, False):
            # Refused before a byte is copied into staging; the service's answer stays authoritative for a
            # race with another upload of the same name.
            raise InvalidRequestError(
                f"cannot upload {key}: the version already exists (remove it first, or choose another name)"
            )
        in_place = is_direct_child(directory, staging)
        what = f"upload {key}"
        payload: dict[str, Any] = {
            "project": parts[0],
            "asset": parts[1],
            "version": parts[2],
            "on_probation": probation,
            "consume": (not in_place) if consume is None else consume,
            "ignore_dot": ignore_dot,
        }
        if spoof is not None:
            payload["spoof"] = spoof
        # If the answer cannot tell (another process posted our request first, or the connection broke),
        # the version's summary says whether this upload was applied.
        summary = f"{key}/..summary"
        outcome = upload_outcome(lambda: self._documents.raw(summary, True), expected_uploader(spoof))
        if in_place:
            plan = check_tree(
                directory,
                ignore_dot=ignore_dot,
                registry=self._connections.registry_if_known(),
                names_only=True,
            )
            warn_left_out(directory, plan.left_out, what=what)
            self.submit("upload", {"source": directory.name, **payload}, what, check=outcome)
            return
        sweep_abandoned(staging, older_than=ABANDONED_AFTER)
        try:
            # The scan refuses what the service would refuse before the copy exists.
            plan = check_tree(
                directory,
                ignore_dot=ignore_dot,
                follow_symlinks=follow_symlinks,
                registry=self._connections.registry_if_known(),
            )
            copy = StagingCopy(staging)
        except OSError as exc:
            raise error_from_oserror(exc, f"{what}: cannot read {directory}") from exc
        # Nothing the caller gave is dropped without saying so.
        warn_left_out(directory, plan.left_out, what=what)
        try:
            try:
                copy_plan(
                    directory,
                    copy.fd,
                    plan,
                    concurrency=concurrency or self._connections.config.concurrency,
                    progress=progress,
                )
            except OSError as exc:
                raise error_from_oserror(exc, f"{what}: cannot copy {directory} into staging") from exc
            self.submit("upload", {"source": copy.path.name, **payload}, what, check=outcome)
        finally:
            copy.remove()

    def clone(self, parts: tuple[str, ...], destination: Path) -> Path:
        """Fill ``destination`` with symlinks to every file of a version in the mounted registry."""
        registry = Path(self._connections.registry)
        if not registry.is_dir():
            raise ConfigurationError(f"cloning needs the registry mounted at {registry}")
        manifest = self._documents.manifest(parts, False)
        base = registry.joinpath(*parts)
        # Every path is checked before the first link is made, so a bad manifest leaves nothing behind.
        for relative in manifest:
            checked_relative(relative)
        try:
            for relative, entry in manifest.items():
                target = destination / relative
                if entry.is_directory:
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(base / relative, target)
            destination.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise error_from_oserror(exc, f"clone {'/'.join(parts)} into {destination}") from exc
        return destination


# Actions that change (or remove) the documents and files of what they name.
_CHANGING = {
    "upload",
    "approve_probation",
    "reject_probation",
    "delete_version",
    "delete_asset",
    "delete_project",
    "reindex_version",
}


def _changed(action: str, payload: dict[str, Any]) -> str | None:
    """The ``project[/asset[/version]]`` whose cached knowledge an action makes stale, if any."""
    if action not in _CHANGING or not isinstance(payload.get("project"), str):
        return None
    names = [payload["project"]]
    for field in ("asset", "version"):
        if not isinstance(payload.get(field), str):
            break
        names.append(payload[field])
    return "/".join(names)
