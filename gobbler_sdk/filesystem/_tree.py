"""``gobbler://`` paths and the directory tree of a version, built from its manifest alone.

A path names the registry root (``""``), a project, an asset, a version, or a file or directory inside a
version. Inside a version every answer comes from the manifest (one document, one request remotely), not
from a ``/list`` per directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..models import Manifest, ManifestEntry

__all__ = ["LATEST", "ParsedPath", "VersionTree", "parse_path"]

#: The version component that stands for an asset's latest version. No valid name starts with ``..``
#: (the service refuses such names), so it can never be a real version; it is also the name of the
#: registry file (``project/asset/..latest``) it is read from.
LATEST = "..latest"


@dataclass(frozen=True)
class ParsedPath:
    """A ``gobbler://`` path split into its parts.

    Attributes:
        name: The path as given, without protocol and outer slashes (the spelling results use).
        parts: Its ``/``-separated components.
    """

    name: str
    parts: tuple[str, ...]

    @property
    def inner(self) -> str:
        """The path inside the version (``""`` for the version itself or anything above it)."""
        return "/".join(self.parts[3:])


def parse_path(path: str) -> ParsedPath:
    """Split a stripped ``gobbler://`` path; empty components (``a//b``) are dropped."""
    name = path.strip("/")
    parts = tuple(part for part in name.split("/") if part)
    return ParsedPath("/".join(parts), parts)


@dataclass
class VersionTree:
    """The files and directories of one version, as its manifest records them.

    Args:
        manifest: The version's manifest.
        mtime: The version's upload time (POSIX seconds), given to everything inside it.
        settled: Whether the version is non-probational (its tree then never changes and can be kept).
    """

    manifest: Manifest
    mtime: float | None
    settled: bool
    _children: dict[str, dict[str, bool]] | None = field(default=None, init=False, repr=False)

    @property
    def children(self) -> dict[str, dict[str, bool]]:
        """Each directory (``""`` for the version root) → its children's names → whether each is a file."""
        if self._children is None:
            tree: dict[str, dict[str, bool]] = {"": {}}
            for path, data in self.manifest.root.items():
                parts = path.split("/")
                for depth in range(len(parts) - 1):
                    parent = "/".join(parts[:depth])
                    directory = "/".join(parts[: depth + 1])
                    tree.setdefault(parent, {})[parts[depth]] = False
                    tree.setdefault(directory, {})
                is_file = data["md5sum"] != ""
                tree.setdefault("/".join(parts[:-1]), {})[parts[-1]] = is_file
                if not is_file:
                    tree.setdefault(path, {})
            self._children = tree
        return self._children

    def is_dir(self, inner: str) -> bool:
        """Whether ``inner`` is a directory of the version (``""``: the version itself)."""
        return inner == "" or inner in self.children

    def entry(self, inner: str) -> ManifestEntry | None:
        """The manifest entry of a file (``None`` for directories and missing paths)."""
        data = self.manifest.root.get(inner)
        if data is None or data["md5sum"] == "":
            return None
        return self.manifest[inner]

    def file_info(self, name: str, inner: str) -> dict[str, Any]:
        """The fsspec details of the file ``inner``, named ``name``."""
        data = self.manifest.root[inner]
        link = data.get("link")
        info: dict[str, Any] = {
            "name": name,
            "size": data["size"],
            "type": "file",
            "md5": data["md5sum"],
            "link": None
            if link is None
            else f"{link['project']}/{link['asset']}/{link['version']}/{link['path']}",
        }
        if self.mtime is not None:
            info["mtime"] = self.mtime
        return info

    def dir_info(self, name: str) -> dict[str, Any]:
        """The fsspec details of a directory of the version (the version itself included)."""
        info: dict[str, Any] = {"name": name, "size": 0, "type": "directory"}
        if self.mtime is not None:
            info["mtime"] = self.mtime
        return info

    def info(self, prefix: str, inner: str) -> dict[str, Any] | None:
        """Details of ``inner`` named below ``prefix`` (the version's own spelling), or ``None``."""
        name = f"{prefix}/{inner}" if inner else prefix
        if self.is_dir(inner):
            return self.dir_info(name)
        if inner in self.manifest.root:
            return self.file_info(name, inner)
        return None

    def listing(self, prefix: str, inner: str) -> list[dict[str, Any]]:
        """Details of the children of the directory ``inner`` (sorted by name)."""
        base = f"{prefix}/{inner}" if inner else prefix
        out = []
        for child, is_file in sorted(self.children[inner].items()):
            relative = f"{inner}/{child}" if inner else child
            name = f"{base}/{child}"
            out.append(self.file_info(name, relative) if is_file else self.dir_info(name))
        return out

    def file_names(self, prefix: str) -> list[str]:
        """Every file of the version, named below ``prefix``, sorted (the common ``find``, in one pass)."""
        names = [f"{prefix}/{path}" for path, data in self.manifest.root.items() if data["md5sum"]]
        names.sort()  # the service writes manifests sorted, which makes this a linear check
        return names

    def below(
        self, prefix: str, inner: str, *, maxdepth: int | None, withdirs: bool, detail: bool
    ) -> dict[str, dict[str, Any] | None]:
        """Everything below the directory ``inner``: name → details (``None`` when ``detail`` is off).

        Args:
            prefix: The version's spelling in the names.
            inner: The directory inside the version (``""``: all of it).
            maxdepth: Levels to descend at most (1: its children only); ``None`` for all.
            withdirs: Include directories.
            detail: Build the details (otherwise only the names).
        """
        if not inner and maxdepth is None and not withdirs and not detail:
            # The common case (every file of a version, by name) in one pass over the manifest.
            return dict.fromkeys(
                f"{prefix}/{path}" for path, data in self.manifest.root.items() if data["md5sum"]
            )
        start = f"{inner}/" if inner else ""
        found: dict[str, dict[str, Any] | None] = {}
        for path, data in self.manifest.root.items():
            if not path.startswith(start):
                continue
            relative = path[len(start) :]
            depth = relative.count("/") + 1
            if maxdepth is not None and depth > maxdepth:
                continue
            if data["md5sum"] != "":
                name = f"{prefix}/{path}"
                found[name] = self.file_info(name, path) if detail else None
        if withdirs:
            for directory in self.children:
                if directory == "" or not directory.startswith(start) or directory == inner:
                    continue
                depth = directory[len(start) :].count("/") + 1
                if maxdepth is not None and depth > maxdepth:
                    continue
                name = f"{prefix}/{directory}"
                found[name] = self.dir_info(name) if detail else None
        return found
