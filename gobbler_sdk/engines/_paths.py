"""From ``gobbler://`` paths and globs to the files they name, and where an engine can read each in place."""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from ..client import GobblerClient
from ..errors import InvalidArgumentError
from ..filesystem import LATEST, GobblerFileSystem

__all__ = ["PROTOCOL", "Resolved", "filesystem", "resolve"]

PROTOCOL = "gobbler://"

# The characters that make a path a glob for fsspec (and for the engines, which are told not to glob).
_MAGIC = frozenset("*?[")


@dataclass(frozen=True)
class Resolved:
    """The files a set of ``gobbler://`` paths and globs names, in order, each once.

    Attributes:
        names: Registry paths (``project/asset/version/path``, ``..latest`` replaced by the version's name).
        locations: Where each is read in place, in the same order: the registry's own file when the
            registry is mounted here (the client reads it locally), else the service's ``/fetch/`` URL.
        mounted: Whether the locations are local files.
    """

    names: tuple[str, ...]
    locations: tuple[str, ...]
    mounted: bool

    @property
    def urls(self) -> tuple[str, ...]:
        """The names as ``gobbler://`` URLs (what an engine with the filesystem registered reads)."""
        return tuple(PROTOCOL + name for name in self.names)


def filesystem(client: GobblerClient | None) -> GobblerFileSystem:
    """The filesystem over ``client``, or the one ``gobbler://`` URLs get from the environment."""
    return GobblerFileSystem() if client is None else GobblerFileSystem(client=client)


def _registry_path(path: str) -> str:
    """``path`` without its ``gobbler://`` prefix and outer slashes; any other scheme is refused."""
    if not isinstance(path, str):
        raise InvalidArgumentError(f"expected a gobbler:// path, got {type(path).__name__} {path!r}")
    if path.startswith(PROTOCOL):
        path = path[len(PROTOCOL) :]
    elif "://" in path:
        raise InvalidArgumentError(f"{path!r} is not a gobbler:// path")
    return "/".join(part for part in path.split("/") if part)


def resolve(paths: str | Sequence[str], *, client: GobblerClient | None = None) -> Resolved:
    """The files that ``gobbler://`` paths and globs name, and where each can be read in place.

    A glob (``*``, ``?``, ``[...]``) is expanded from the version's manifest, like
    :meth:`GobblerFileSystem.glob <gobbler_sdk.GobblerFileSystem.glob>`; ``..latest`` in the version's
    place is resolved once per asset and call, so every file comes from the same version even if a newer
    one is approved meanwhile.

    Args:
        paths: One path or glob, or several (``gobbler://project/asset/version/path``; the prefix may be
            left out). Each must name files inside a version.
        client: The client to read through; ``None`` for one configured from the environment
            (``GOBBLER_URL``, ``GOBBLER_REGISTRY``, ...), as ``gobbler://`` URLs get.

    Returns:
        The files, in the order given (each glob's matches sorted by name), each once.

    Raises:
        InvalidArgumentError: When a path has another scheme, or does not reach inside a version.
        FileNotFoundError: When a path names no file, a glob matches none, or ``..latest`` has no version.
        IsADirectoryError: When a path (not a glob) names a directory.
    """
    fs = filesystem(client)
    reader = fs.client
    latest: dict[str, str] = {}
    names: list[str] = []
    for given in [paths] if isinstance(paths, str) else list(paths):
        path = _registry_path(given)
        parts = path.split("/")
        if len(parts) < 4:
            raise InvalidArgumentError(f"{given!r} names no file: expected project/asset/version/path")
        if any(_MAGIC.intersection(part) for part in parts[:3]):
            raise InvalidArgumentError(f"{given!r}: globs are allowed only inside a version")
        if parts[2] == LATEST:
            key = f"{parts[0]}/{parts[1]}"
            if key not in latest:
                version = reader.project(parts[0]).asset(parts[1]).latest()
                if version is None:
                    raise FileNotFoundError(errno.ENOENT, f"{key} has no latest version", given)
                latest[key] = version.name
            path = "/".join([parts[0], parts[1], latest[key], *parts[3:]])
        if _MAGIC.intersection(path):
            found = fs.glob(path, detail=True)
            matched = sorted(name for name, info in found.items() if info["type"] == "file")
            if not matched:
                raise FileNotFoundError(errno.ENOENT, "the glob matches no file", given)
            names += matched
        else:
            info = fs.info(path)
            if info["type"] != "file":
                raise IsADirectoryError(errno.EISDIR, "a directory, not a file", given)
            names.append(path)
    unique = tuple(dict.fromkeys(names))
    local = [reader.local_path(name) for name in unique]
    if all(each is not None for each in local):
        return Resolved(unique, tuple(str(each) for each in local), mounted=True)
    fetch = reader.url + "/fetch/"
    return Resolved(unique, tuple(fetch + quote(name, safe="/") for name in unique), mounted=False)
