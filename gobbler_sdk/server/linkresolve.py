"""Link records: registry links, local links and their symlink texts.

A link record names its immediate target (``project/asset/version/path``) and, when that target is itself
a link, the final file as ``ancestor``; chains are always flattened to those two levels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from . import paths
from .documents import Link, Manifest, ManifestEntry, read_manifest, read_summary
from .errors import RequestError
from .goerrors import go_quote

__all__ = [
    "RegistryTargets",
    "VersionRef",
    "make_link",
    "resolve_local_links",
    "symlink_target",
    "symlink_text",
]


@dataclass(frozen=True)
class VersionRef:
    """A project/asset/version triple.

    Attributes:
        project: Project name.
        asset: Asset name.
        version: Version name.
    """

    project: str
    asset: str
    version: str

    def directory(self, registry: str) -> str:
        """The version directory under ``registry``."""
        return os.path.join(registry, self.project, self.asset, self.version)

    def label(self) -> str:
        """``P/A/V`` for messages."""
        return f"{self.project}/{self.asset}/{self.version}"


def make_link(version: VersionRef, path: str, target: ManifestEntry | None) -> Link:
    """Link record to ``path`` in ``version``, whose manifest entry is ``target``.

    When the target is itself a link, the record's ``ancestor`` is the target's ancestor, or the target's
    own link when it has none, so chains never grow beyond two levels.
    """
    link: Link = {
        "project": version.project,
        "asset": version.asset,
        "version": version.version,
        "path": path,
    }
    upstream = None if target is None else target.get("link")
    if upstream is not None:
        final = upstream.get("ancestor") or upstream
        link["ancestor"] = {key: final.get(key, "") for key in ("project", "asset", "version", "path")}
    return link


def symlink_target(registry: str, link: Link) -> str:
    """Registry path of the file a link's symlink points at: the ancestor if any, else the parent."""
    final = link.get("ancestor") or link
    return paths.join(registry, final["project"], final["asset"], final["version"], final["path"])


def symlink_text(registry: str, link: Link, symlink_path: str) -> str:
    """Relative symlink text from ``symlink_path``'s directory to the link's final file (8.6)."""
    target = symlink_target(registry, link)
    text = paths.rel(paths.clean(os.path.dirname(symlink_path)), target)
    # Both paths are built from the same registry root, so a relative path always exists.
    return text if text is not None else target


class RegistryTargets:
    """Resolves links into other versions of the registry, caching summaries and manifests per walk.

    Args:
        registry: Registry root.
        current: The version being written, which may not be linked to.
    """

    def __init__(self, registry: str, current: VersionRef) -> None:
        self._registry = registry
        self._current = current
        self._probational: dict[tuple[str, str, str], bool] = {}
        self._manifests: dict[tuple[str, str, str], Manifest] = {}

    def resolve(self, target: str) -> tuple[ManifestEntry, Link]:
        """Manifest entry and link record for a link to ``target``, a path inside the registry.

        Raises:
            RequestError: 500 when the target is not a linkable file of a non-probational version.
        """
        relative = paths.rel(self._registry, target) or ""
        parts = relative.split("/")
        if len(parts) < 4:
            raise RequestError(
                500, f"unexpected link to file outside of a project asset version directory ('{relative}')"
            )
        if any(part.startswith("..") for part in parts):
            raise RequestError(
                500, f"link components cannot refer to internal '..' files ({go_quote(relative)})"
            )
        key = (parts[0], parts[1], parts[2])
        version = VersionRef(*key)
        if version == self._current:
            raise RequestError(
                500, "cannot link to file inside the currently-transferring project asset version directory"
            )
        version_dir = version.directory(self._registry)
        probational = self._probational.get(key)
        if probational is None:
            try:
                summary = read_summary(version_dir)
            except RequestError as exc:
                raise exc.wrap(f"cannot read the version summary for '{version.label()}'") from exc
            probational = summary.get("on_probation") is True
            self._probational[key] = probational
        if probational:
            raise RequestError(
                500,
                "cannot link to file inside a probational project version asset directory "
                f"('{version.label()}')",
            )
        manifest = self._manifests.get(key)
        if manifest is None:
            try:
                manifest = read_manifest(version_dir)
            except RequestError as exc:
                raise exc.wrap(f"cannot read the manifest for '{version.label()}'") from exc
            self._manifests[key] = manifest
        path = "/".join(parts[3:])
        entry = manifest.get(path)
        if entry is None:
            raise RequestError(
                500, f"could not find link target '{path}' in the manifest of '{version.label()}'"
            )
        return entry, make_link(version, path, entry)


def resolve_local_links(
    pending: Mapping[str, str], manifest: Manifest, current: VersionRef
) -> dict[str, ManifestEntry]:
    """Resolve links between files of the version being written (8.5).

    Args:
        pending: Symlink path → path of its target, both relative to the version root.
        manifest: Entries already known (files and registry links); not modified.
        current: The version being written.

    Returns:
        A manifest entry, with ``link``, for every key of ``pending``.

    Raises:
        RequestError: 500 when a target is neither in the manifest nor another pending link, or on a cycle.
    """
    resolved: dict[str, ManifestEntry] = {}

    def resolve(rel: str, visiting: set[str]) -> ManifestEntry:
        done = resolved.get(rel)
        if done is not None:
            return done
        target = pending[rel]
        found = manifest.get(target)
        if found is None:
            if target not in pending:
                raise RequestError(
                    500, f'symlink at "{target}" should point to a file in the manifest or another symlink'
                )
            if target in visiting:
                raise RequestError(500, f'cyclic symbolic links detected at "{rel}"')
            visiting.add(rel)
            found = resolve(target, visiting)
        entry: ManifestEntry = {
            "size": found.get("size", 0),
            "md5sum": found.get("md5sum", ""),
            "link": make_link(current, target, found),
        }
        resolved[rel] = entry
        return entry

    for rel in sorted(pending):
        resolve(rel, {rel})
    return resolved
