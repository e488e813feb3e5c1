"""Turning the PATH arguments of commands into handles, through the client's own name checks.

A version may be written ``..latest`` in any PATH (``project/asset/..latest/file.csv``): the asset's latest
version, looked up once per command (:func:`resolve_latest`), so a command reading several files never
mixes two versions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InvalidRequestError

if TYPE_CHECKING:
    from .. import Asset, GobblerClient, Project, Version

__all__ = [
    "LATEST",
    "asset_only",
    "depth",
    "holder",
    "project_or_asset",
    "resolve_latest",
    "version_only",
    "version_path",
]

_KINDS = ("project", "asset", "version")

#: The version name that stands for an asset's latest version.
LATEST = "..latest"


def resolve_latest(client: GobblerClient, path: str, *, bare_asset: bool = False) -> str:
    """``path`` with a ``..latest`` version replaced by the name of the asset's latest version.

    The SDK resolves ``..latest`` in every path (:meth:`GobblerClient.unpack_path`); this adds the CLI's
    shorthand of a bare ``PROJECT/ASSET`` for its latest version.

    Args:
        client: The session to ask.
        path: A PATH argument.
        bare_asset: Read ``PROJECT/ASSET`` as ``PROJECT/ASSET/..latest`` (``download``, ``manifest``).

    Raises:
        NotFoundError: When the asset does not exist or has no latest version yet.
    """
    parts = path.strip("/").split("/") if path.strip("/") else []
    if bare_asset and len(parts) == 2:
        parts.append(LATEST)
    if len(parts) < 3 or parts[2] != LATEST:
        return path
    version, inside = client.unpack_path("/".join(parts))
    return version.key if inside is None else f"{version.key}/{inside}"


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
    path = resolve_latest(client, path)
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


def version_only(client: GobblerClient, path: str, *, bare_asset: bool = False) -> Version:
    """The version named by exactly ``PROJECT/ASSET/VERSION`` (or ``PROJECT/ASSET``, with ``bare_asset``).

    Raises:
        InvalidRequestError: When ``path`` has another number of components.
    """
    version, inside = client.unpack_path(resolve_latest(client, path, bare_asset=bare_asset))
    if inside is not None:
        raise InvalidRequestError(f"{path!r} names a path inside a version; expected PROJECT/ASSET/VERSION")
    return version


def version_path(client: GobblerClient, path: str, *, bare_asset: bool = False) -> tuple[Version, str | None]:
    """The version ``path`` lies in, and the path inside it (``None`` for the version itself).

    With ``bare_asset``, ``PROJECT/ASSET`` means the asset's latest version.
    """
    return client.unpack_path(resolve_latest(client, path, bare_asset=bare_asset))


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
