"""``reroute_links``: repoint the links that depend on what is about to be deleted.

Before projects, assets or versions are deleted, every link elsewhere in the registry that depends on a
file inside them is rewritten so that nothing dangles afterwards: a link whose chain still reaches a living
file is retargeted at it, and a link left with no living file in its chain becomes a copy of the bytes.
The whole action runs under the exclusive registry lock; it deletes nothing and writes no log.

The work happens in three steps: expand the request into doomed versions and files, propose one action
per affected manifest entry of every surviving version (this is all a dry run does), then execute the
actions version by version and charge the copied bytes to the projects holding the links.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections import defaultdict
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import paths
from .accounting import child_directories, read_usage, write_usage
from .auth import require_name
from .documents import LINKS, Link, Manifest, ManifestEntry, read_manifest, write_manifest
from .errors import RequestError
from .goerrors import go_quote, go_remove, link_error_text, os_error_text
from .gojson import ListOf, Schema, Struct, go_struct_text
from .request_files import Request
from .walk import write_link_files

if TYPE_CHECKING:
    from .service import Service

__all__ = ["reroute_links"]

_TARGET_SPEC = Struct({"project": "string", "asset": "string", "version": "string"}, "deleteTask")
_SCHEMA: Schema = Struct(
    {"to_delete": ListOf(_TARGET_SPEC), "dry_run": "bool"},
    go_type=go_struct_text(to_delete="[]main.deleteTask", dry_run="bool"),
)

# A version as (project, asset, version) and a file as (project, asset, version, path inside the version).
VersionKey = tuple[str, str, str]
FileKey = tuple[str, str, str, str]


@dataclass(frozen=True)
class _Target:
    """One element of ``to_delete``: a whole project, a whole asset, or one version."""

    project: str
    asset: str | None
    version: str | None


@dataclass
class _Action:
    """The change planned for one linked manifest entry of a surviving version."""

    version: VersionKey
    key: str
    copy: bool
    source: FileKey
    usage: int
    entry: ManifestEntry  # the entry as it will be written (without ``link`` for a copy)

    def change(self) -> dict[str, Any]:
        """The element reported in the response's ``changes``."""
        return {
            "copy": self.copy,
            "path": "/".join((*self.version, self.key)),
            "source": "/".join(self.source),
            "usage": self.usage,
        }


def reroute_links(service: Service, request: Request) -> dict[str, Any]:
    """Retarget or replace by copies every link into the versions named by ``to_delete``."""
    # The reference words the refusal as if this were a project deletion.
    request.require_admin("delete a project")
    fields = request.parse(_SCHEMA)
    if "to_delete" not in fields:
        # The reference wraps a nil error here, printed as %!w(<nil>); kept for byte equality.
        raise RequestError(400, f"expected a 'to_delete' property in {go_quote(request.path)}; %!w(<nil>)")
    targets = [_check_target(entry, request.path) for entry in fields["to_delete"]]
    dry_run = bool(fields.get("dry_run", False))

    with ExitStack() as stack:
        service.enter_registry(stack, exclusive=True)
        manifests = _ManifestCache(service.registry)
        doomed_versions = _expand_targets(service.registry, targets)
        doomed_files = _doomed_files(doomed_versions, manifests)
        if not doomed_files:
            return {"changes": []}
        actions = _propose(service.registry, doomed_versions, doomed_files, manifests)
        if not dry_run:
            _execute(service, actions)
    return {"changes": [action.change() for action in actions]}


def _check_target(fields: dict[str, Any], request_path: str) -> _Target:
    """Validate one ``to_delete`` element in the reference's order (6.13)."""
    # The reference's project field is a plain string: a missing project is an empty name.
    project = require_name({"project": "", **fields}, "project", request_path)
    if fields.get("version") is not None and fields.get("asset") is None:
        # The reference wraps a nil error here, which Go prints as %!w(<nil>); kept for byte equality.
        raise RequestError(
            400, f"'version' requires the 'asset' to be specified in {go_quote(request_path)}; %!w(<nil>)"
        )
    asset = require_name(fields, "asset", request_path) if fields.get("asset") is not None else None
    version = require_name(fields, "version", request_path) if fields.get("version") is not None else None
    return _Target(project, asset, version)


# ---------------------------------------------------------------- doomed versions and files (11.1)


class _ManifestCache:
    """Manifests read during the proposal, each read at most once."""

    def __init__(self, registry: str) -> None:
        self._registry = registry
        self._cache: dict[VersionKey, Manifest] = {}

    def get(self, version: VersionKey, *, own: bool = False) -> Manifest:
        """The manifest of ``version``.

        Args:
            version: The version.
            own: It is the manifest of the surviving version being examined, which the reference names
                by its registry-relative path; every other manifest is named by its absolute path.

        Raises:
            RequestError: 500 when it is missing or malformed.
        """
        manifest = self._cache.get(version)
        if manifest is None:
            # Link fields may be empty on a damaged registry; Go's Join drops them, and so does this.
            directory = paths.join(self._registry, *version)
            try:
                manifest = read_manifest(directory)
            except RequestError as exc:
                where = paths.join(*version) if own else directory
                raise exc.wrap(f"failed to read manifest at {go_quote(where)}") from None
            self._cache[version] = manifest
        return manifest

    def entry(self, link: Link) -> ManifestEntry | None:
        """The manifest entry a link points at (its immediate target), ``None`` when it is not listed.

        Raises:
            RequestError: 500 when the manifest is unreadable.
        """
        return self.get(_version_of(link)).get(link.get("path", ""))


def _expand_targets(registry: str, targets: list[_Target]) -> set[VersionKey]:
    """Every version named by ``to_delete``; named versions are not checked for existence here.

    Raises:
        RequestError: 500 when a named project or asset cannot be listed.
    """
    doomed: set[VersionKey] = set()
    for target in targets:
        if target.asset is not None and target.version is not None:
            doomed.add((target.project, target.asset, target.version))
            continue
        assets = (
            [target.asset]
            if target.asset is not None
            else child_directories(os.path.join(registry, target.project))
        )
        for asset in assets:
            for version in child_directories(os.path.join(registry, target.project, asset)):
                doomed.add((target.project, asset, version))
    return doomed


def _doomed_files(doomed_versions: set[VersionKey], manifests: _ManifestCache) -> set[FileKey]:
    """Every manifest path of every doomed version (empty-directory entries included, harmlessly)."""
    return {(*version, key) for version in doomed_versions for key in manifests.get(version)}


def _surviving_versions(registry: str, doomed_versions: set[VersionKey]) -> list[VersionKey]:
    """Every version directory of the registry, probational ones included, that is not doomed."""
    found = []
    for project in child_directories(registry):
        project_dir = os.path.join(registry, project)
        for asset in child_directories(project_dir):
            for version in child_directories(os.path.join(project_dir, asset)):
                key = (project, asset, version)
                if key not in doomed_versions:
                    found.append(key)
    return found


# ---------------------------------------------------------------- proposal (11.2)


def _version_of(link: Link) -> VersionKey:
    # A damaged manifest may lack fields; the reference reads them as empty strings.
    return (link.get("project", ""), link.get("asset", ""), link.get("version", ""))


def _file_of(link: Link) -> FileKey:
    return (*_version_of(link), link.get("path", ""))


def _bare(link: Link) -> Link:
    """``link`` without its ancestor."""
    return dict(zip(("project", "asset", "version", "path"), _file_of(link), strict=True))


def _propose(
    registry: str,
    doomed_versions: set[VersionKey],
    doomed_files: set[FileKey],
    manifests: _ManifestCache,
) -> list[_Action]:
    """Plan the actions for every linked entry of every surviving version.

    Raises:
        RequestError: 500 when a surviving version's manifest, or one met while tracing a chain, is
            unreadable or lacks a path.
    """
    actions = []
    for version in _surviving_versions(registry, doomed_versions):
        try:
            for key, entry in manifests.get(version, own=True).items():
                action = _propose_entry(version, key, entry, doomed_files, manifests)
                if action is not None:
                    actions.append(action)
        except RequestError as exc:
            project, asset, name = version
            where = f"version {go_quote(name)} of asset {go_quote(asset)} in project {go_quote(project)}"
            raise RequestError(exc.status, f"failed to reroute links for {where}; {exc.reason}") from exc
    return actions


def _propose_entry(
    version: VersionKey,
    key: str,
    entry: ManifestEntry,
    doomed_files: set[FileKey],
    manifests: _ManifestCache,
) -> _Action | None:
    """The action for one manifest entry, or ``None`` when it is unaffected."""
    link = entry.get("link")
    if link is None:
        return None
    parent = _file_of(link)
    lost_parent = parent in doomed_files
    ancestor = link.get("ancestor")
    if ancestor is None:
        return _copy_action(version, key, entry, parent) if lost_parent else None

    lost_ancestor = _file_of(ancestor) in doomed_files
    if not lost_parent and not lost_ancestor:
        return None
    origin = "/".join((*version, key))
    living_parent, living_ancestor = _trace_chain(origin, link, lost_ancestor, doomed_files, manifests)

    if lost_parent:
        if living_parent is None:
            return _copy_action(version, key, entry, parent)
        new_link = _bare(living_parent)
    else:
        new_link = _bare(link)
    if lost_ancestor:
        if living_ancestor is not None:
            new_link["ancestor"] = _bare(living_ancestor)
    elif _file_of(ancestor) != _file_of(new_link):
        new_link["ancestor"] = _bare(ancestor)

    source = parent if lost_parent else _file_of(ancestor)
    new_entry = {"size": entry.get("size", 0), "md5sum": entry.get("md5sum", ""), "link": new_link}
    return _Action(version, key, copy=False, source=source, usage=0, entry=new_entry)


def _copy_action(version: VersionKey, key: str, entry: ManifestEntry, parent: FileKey) -> _Action:
    """Replace the link by a copy of its (doomed) parent, charging its size."""
    size = int(entry.get("size", 0))
    new_entry = {"size": size, "md5sum": entry.get("md5sum", "")}
    return _Action(version, key, copy=True, source=parent, usage=size, entry=new_entry)


def _trace_chain(
    origin: str, link: Link, lost_ancestor: bool, doomed_files: set[FileKey], manifests: _ManifestCache
) -> tuple[Link | None, Link | None]:
    """Follow immediate targets from ``link`` down to a real file, noting the living files on the way.

    Args:
        origin: Registry-relative path of the linked file being examined (for error messages).
        link: Its link.
        lost_ancestor: Whether its recorded ancestor is doomed.
        doomed_files: Every doomed file.
        manifests: Manifest cache.

    Returns:
        ``(living_parent, living_ancestor)``: the first file of the chain that is not doomed, and the last
        one after it. The walk stops at the living parent when the ancestor survives anyway.

    Raises:
        RequestError: 500 when a manifest on the way is unreadable, lacks a path, or the chain loops.
    """
    living_parent: Link | None = None
    living_ancestor: Link | None = None
    current: Link | None = _bare(link)
    seen: set[FileKey] = set()
    while current is not None:
        here = _file_of(current)
        if here in seen:
            # The reference follows such a chain forever; failing is the only useful answer.
            raise RequestError(500, f"links form a cycle at {go_quote('/'.join(here))}")
        seen.add(here)
        if here not in doomed_files:
            if living_parent is None:
                living_parent = current
                if not lost_ancestor:
                    break
            else:
                living_ancestor = current
        target = manifests.entry(current)
        if target is None:
            missing = f"missing manifest entry for link to {go_quote('/'.join(here))} from {go_quote(origin)}"
            raise RequestError(500, missing)
        following = target.get("link")
        current = _bare(following) if following is not None else None
    return living_parent, living_ancestor


# ---------------------------------------------------------------- execution (11.3)


def _execute(service: Service, actions: list[_Action]) -> None:
    """Apply the actions version by version, then add the copied bytes to each project's usage.

    Every affected project's usage is read before anything changes, so an unreadable ``..usage`` fails
    the request with the registry untouched; it is written once all versions are done.

    Raises:
        RequestError: 500 on any failure; versions already rewritten stay rewritten.
    """
    by_version: dict[VersionKey, list[_Action]] = defaultdict(list)
    added: dict[str, int] = defaultdict(int)
    for action in actions:
        by_version[action.version].append(action)
        added[action.version[0]] += action.usage
    # The exclusive registry lock already keeps every other writer out of ..usage.
    totals = {}
    for project in sorted(added):
        project_dir = service.path(project)
        try:
            totals[project] = read_usage(project_dir)
        except RequestError as exc:
            raise exc.wrap(f"failed to read usage for {go_quote(project_dir)}") from None
    for version in sorted(by_version):
        _execute_version(service, version, sorted(by_version[version], key=lambda a: a.key))
    for project, total in totals.items():
        write_usage(service.path(project), total + added[project])


def _execute_version(service: Service, version: VersionKey, actions: list[_Action]) -> None:
    """Rewrite the files, the manifest and the ``..links`` files of one surviving version.

    Raises:
        RequestError: 500 on any filesystem failure.
    """
    version_dir = service.path(*version)
    copies: list[Future[None]] = []
    for action in actions:
        destination = os.path.join(version_dir, action.key)
        if action.copy:
            source = service.path(*action.source)
            copies.append(service.pool.submit(_replace_with_copy, source, destination))
        else:
            _replace_with_symlink(service.registry, destination, action.entry["link"])
    errors = [copy.exception() for copy in copies]
    for error in errors:
        if error is not None:
            raise error

    manifest = read_manifest(version_dir)
    for action in actions:
        manifest[action.key] = action.entry
    write_manifest(version_dir, manifest)
    copied_in = {os.path.dirname(action.key) for action in actions if action.copy}
    _rewrite_link_files(version_dir, manifest, copied_in)


def _replace_with_copy(source: str, destination: str) -> None:
    """Replace the symlink ``destination`` by a regular copy of ``source`` (mode 0644 minus umask).

    As in the reference, the symlink is removed first (its absence is an error) and a failed copy
    leaves what it wrote.

    Raises:
        RequestError: 500 when the symlink cannot be removed or the copy fails.
    """
    _remove(destination, "failed to remove existing file at")
    with contextlib.ExitStack() as stack:
        try:
            data = stack.enter_context(open(source, "rb"))
        except IsADirectoryError:
            data = None  # Go opens a directory and fails on the first read, after creating the output.
        except OSError as exc:
            detail = os_error_text("open", source, exc)
            raise RequestError(500, f"failed to open input file at '{source}'; {detail}") from exc
        try:
            fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            detail = os_error_text("open", destination, exc)
            raise RequestError(500, f"failed to open output file at '{destination}'; {detail}") from exc
        with os.fdopen(fd, "wb") as output:
            failure = f"failed to copy '{source}' to '{destination}'"
            if data is None:
                # Go copies with copy_file_range and reports its failure as a write of the output.
                raise RequestError(500, f"{failure}; write {destination}: copy_file_range: is a directory")
            try:
                shutil.copyfileobj(data, output, 1 << 20)
            except OSError as exc:
                raise RequestError(500, f"{failure}; {os_error_text('write', destination, exc)}") from exc


def _remove(path: str, failure: str, *, missing_ok: bool = False) -> None:
    """Remove ``path`` as the reference does (Go's ``os.Remove``).

    Raises:
        RequestError: 500 with ``<failure> "<path>"; remove <path>: <error>``.
    """
    try:
        go_remove(path)
    except OSError as exc:
        if missing_ok and isinstance(exc, FileNotFoundError):
            return
        raise RequestError(500, f"{failure} {go_quote(path)}; {os_error_text('remove', path, exc)}") from exc


def _replace_with_symlink(registry: str, destination: str, link: Link) -> None:
    """Point the symlink ``destination`` at the link's ancestor (or parent) by a relative path (8.6).

    Raises:
        RequestError: 500 when the symlink cannot be replaced.
    """
    ancestor = link.get("ancestor")
    final = ancestor if ancestor is not None else link
    target = paths.join(registry, *_file_of(final))
    text = paths.rel(os.path.dirname(destination), target)
    if text is None:
        raise RequestError(500, f"cannot express {go_quote(target)} relative to {go_quote(destination)}")
    # Unlike a copy's, a retargeted symlink that is already gone is no error in the reference.
    _remove(destination, "failed to remove existing symlink at", missing_ok=True)
    try:
        os.symlink(text, destination)
    except OSError as exc:
        detail = link_error_text("symlink", text, destination, exc)
        raise RequestError(500, f"failed to create symlink at {go_quote(destination)}; {detail}") from exc


def _rewrite_link_files(version_dir: str, manifest: Manifest, copied_in: set[str]) -> None:
    """Write one ``..links`` per directory that still has links; remove it where copies left none.

    Args:
        version_dir: The version directory.
        manifest: Its new manifest.
        copied_in: Directories (relative, ``""`` for the root) in which a link became a copy.

    Raises:
        RequestError: 500 when a file cannot be written or removed; a link file the reference expects
            to remove but that was deleted by hand is such a failure.
    """
    by_directory: dict[str, dict[str, Link]] = defaultdict(dict)
    for key, entry in manifest.items():
        link = entry.get("link")
        if link is not None:
            directory, name = os.path.split(key)
            by_directory[directory][name] = link
    try:
        write_link_files(version_dir, dict(sorted(by_directory.items())))
    except RequestError as exc:
        raise exc.wrap(f"failed to create linkfiles at {go_quote(version_dir)}") from None
    for directory in sorted(copied_in - by_directory.keys()):
        _remove(os.path.join(version_dir, directory, LINKS), "failed to remove unnecessary linkfile")
