"""Turning the PATH arguments of commands into handles, through the client's own name checks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InvalidRequestError

if TYPE_CHECKING:
    from .. import Asset, GobblerClient, Project, Version

__all__ = ["asset_only", "depth", "holder", "project_or_asset", "version_only", "version_path"]

_KINDS = ("project", "asset", "version")


def depth(path: str) -> int:
    """How many components ``path`` has (``""`` and ``"/"`` have none)."""
    stripped = path.strip("/")
    return len(stripped.split("/")) if stripped else 0


def holder(client: GobblerClient, path: str, *, deepest: int = 3) -> Project | Asset | Version:
    """The project, asset or version named by ``path`` (at most ``deepest`` components).

    Raises:
        InvalidRequestError: When ``path`` has no component or too many.
        InvalidNameError: When a component breaks the naming rules.
    """
    parts = path.strip("/").split("/") if path.strip("/") else []
    if not 1 <= len(parts) <= deepest:
        wanted = "/".join(kind.upper() for kind in _KINDS[:deepest])
        kinds = " or ".join(_KINDS[:deepest])
        raise InvalidRequestError(f"{path!r} does not name a {kinds}: expected {wanted}")
    project = client.project(parts[0])
    if len(parts) == 1:
        return project
    asset = project.asset(parts[1])
    return asset if len(parts) == 2 else asset.version(parts[2])


def version_only(client: GobblerClient, path: str) -> Version:
    """The version named by exactly ``PROJECT/ASSET/VERSION``.

    Raises:
        InvalidRequestError: When ``path`` has another number of components.
    """
    version, inside = client.unpack_path(path)
    if inside is not None:
        raise InvalidRequestError(f"{path!r} names a path inside a version; expected PROJECT/ASSET/VERSION")
    return version


def version_path(client: GobblerClient, path: str) -> tuple[Version, str | None]:
    """The version ``path`` lies in, and the path inside it (``None`` for the version itself)."""
    return client.unpack_path(path)


def project_or_asset(client: GobblerClient, path: str) -> Project | Asset:
    """The project or asset named by ``PROJECT`` or ``PROJECT/ASSET``.

    Raises:
        InvalidRequestError: When ``path`` has another number of components.
    """
    parts = path.strip("/").split("/")
    if len(parts) == 2:
        return asset_only(client, path)
    holder(client, path, deepest=1)  # the same checks and messages as for any other path
    return client.project(parts[0])


def asset_only(client: GobblerClient, path: str) -> Asset:
    """The asset named by exactly ``PROJECT/ASSET``.

    Raises:
        InvalidRequestError: When ``path`` has another number of components.
    """
    if depth(path) != 2:
        raise InvalidRequestError(f"{path!r} does not name an asset: expected PROJECT/ASSET")
    project, name = path.strip("/").split("/")
    return client.project(project).asset(name)
