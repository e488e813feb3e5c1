"""Lazy handles on registry objects: :class:`Project`, :class:`Asset` and :class:`Version`.

A handle is only a name with a client: creating one does no I/O and cannot fail except on an invalid name.
Handles are immutable, hashable and ordered by path, so they can be used as dictionary keys and sorted.
Every read accepts ``force_remote=True`` to go through the REST API even when the registry is mounted.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, TypeVar, overload

from ._names import client_name_problem
from ._pathsafety import checked_relative
from ._progress import ProgressCallback, TqdmClass, with_tqdm_class
from ._writes import owner_list, uploader_list
from .errors import InvalidArgumentError, InvalidNameError, InvalidRequestError, NotFoundError, ServiceError
from .models import Manifest, Permissions, Summary, Uploader

if sys.version_info >= (3, 11):
    from typing import Unpack
else:
    from typing_extensions import Unpack

from ._core import Core
from .comparison import UploadPlan, VerifyReport, VersionDiff, diff_versions, plan_upload, verify_directory

if TYPE_CHECKING:
    from ._downloads import DirectoryOptions, FileOptions
    from .client import GobblerClient

__all__ = ["Asset", "Project", "Version"]

_H = TypeVar("_H", bound="_Handle")


def _checked(kind: str, name: str) -> str:
    if not isinstance(name, str):
        raise InvalidNameError(f"{kind} name must be a string, not {type(name).__name__}")
    problem = client_name_problem(name)
    if problem is not None:
        raise InvalidNameError(f"invalid {kind} name {name!r}: {problem}")
    return name


def _natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key putting ``v2`` before ``v10``: digit runs compare as numbers, the rest as text."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in _DIGITS.split(name) if part != ""
    )


_DIGITS = re.compile(r"(\d+)")


class _Handle:
    """Shared identity, immutability and ordering of handles."""

    __slots__ = ("_core", "_parts")

    _core: Core
    _parts: tuple[str, ...]

    def __init__(self, core: Core, parts: tuple[str, ...]) -> None:
        object.__setattr__(self, "_core", core)
        object.__setattr__(self, "_parts", parts)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} handles are immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} handles are immutable")

    # The default copy protocol restores slots with setattr, which immutability forbids; an immutable
    # handle is its own copy (the client is a shared session, never duplicated).
    def __copy__(self: _H) -> _H:
        return self

    def __deepcopy__(self: _H, memo: dict[int, Any]) -> _H:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        # The default protocol restores slots with setattr, which immutability forbids.
        return (_rebuilt, (type(self), self._core.client, self._parts))

    @property
    def client(self) -> GobblerClient:
        """The client this handle reads and writes through."""
        return self._core.client

    @property
    def key(self) -> str:
        """``project``, ``project/asset`` or ``project/asset/version``."""
        return "/".join(self._parts)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Handle)
        return self._core is other._core and self._parts == other._parts

    def __hash__(self) -> int:
        return hash((type(self).__name__, id(self._core), self._parts))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, _Handle):
            return NotImplemented
        return self._parts < other._parts

    def __le__(self, other: object) -> bool:
        if not isinstance(other, _Handle):
            return NotImplemented
        return self._parts <= other._parts

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key!r})"

    def _exists(self, force_remote: bool) -> bool:
        return self._core.documents.exists(self._parts, force_remote)

    def _not_found(self, force_remote: bool, what: str, cause: NotFoundError | None = None) -> NotFoundError:
        return self._core.documents.not_found(self._parts, force_remote, what, cause)


def _rebuilt(kind: type[_H], client: GobblerClient, parts: tuple[str, ...]) -> _H:
    """A handle unpickled, through the public API of the client it arrived with."""
    handle: _Handle = client.project(parts[0])
    if len(parts) > 1:
        handle = client.project(parts[0]).asset(parts[1])
    if len(parts) > 2:
        handle = client.project(parts[0]).asset(parts[1]).version(parts[2])
    assert isinstance(handle, kind)
    return handle


class Project(_Handle):
    """A project of the registry.

    Usually made by :meth:`GobblerClient.project <gobbler_sdk.GobblerClient.project>`.

    Args:
        client: The client to work through.
        name: Project name.

    Raises:
        InvalidNameError: When ``name`` breaks the service's naming rules.
    """

    __slots__ = ()

    def __init__(self, client: GobblerClient | Core, name: str) -> None:
        # The client binds its core into the handles it makes; a handle built from a client directly takes
        # the core of one the client makes.
        core = client if isinstance(client, Core) else client.project(name)._core
        super().__init__(core, (_checked("project", name),))

    @property
    def name(self) -> str:
        """Project name."""
        return self._parts[0]

    @property
    def path(self) -> str:
        """Registry-relative path of the project (its name)."""
        return self.key

    def exists(self, *, force_remote: bool = False) -> bool:
        """Whether the project directory exists."""
        return self._exists(force_remote)

    def create(
        self,
        owners: Sequence[str] | None = None,
        uploaders: Sequence[Uploader | Mapping[str, Any]] | None = None,
        *,
        global_write: bool | None = None,
    ) -> Project:
        """Create the project (administrators only).

        Args:
            owners: User names of the owners (a list, even for one); the caller when ``None``.
            uploaders: Uploader entries (:class:`Uploader` models or mappings); none when ``None``.
            global_write: Let anyone create new assets in the project; not recorded when ``None``.

        Returns:
            This handle.

        Raises:
            InvalidArgumentError: When ``owners`` or ``uploaders`` is a bare string or a single entry
                instead of a list, or holds something else (checked before anything is written).
        """
        permissions: dict[str, Any] = {}
        owner_names, uploader_entries = owner_list(owners), uploader_list(uploaders)
        if owner_names is not None:
            permissions["owners"] = owner_names
        if uploader_entries is not None:
            permissions["uploaders"] = uploader_entries
        if global_write is not None:
            permissions["global_write"] = global_write
        payload: dict[str, Any] = {"project": self.name}
        if permissions:
            payload["permissions"] = permissions
        self._core.writes.submit("create_project", payload, f"create project {self.name}")
        return self

    def asset(self, name: str) -> Asset:
        """Handle on an asset of this project (no I/O)."""
        return Asset(self, name)

    def assets(self, *, force_remote: bool = False) -> list[Asset]:
        """Every asset of the project, sorted by name.

        Raises:
            NotFoundError: When the project does not exist.
        """
        try:
            names = self._core.documents.subdirectories(self.key, force_remote)
        except NotFoundError as exc:
            raise self._not_found(force_remote, "directory", exc) from None
        return [self.asset(n) for n in names]

    def permissions(self, *, force_remote: bool = False) -> Permissions:
        """The project's owners, uploaders and global-write flag.

        Raises:
            NotFoundError: When the project does not exist.
        """
        permissions = self._core.documents.permissions(self._parts, force_remote)
        if permissions is None:
            raise self._not_found(force_remote, "permissions")
        return permissions

    def set_permissions(
        self,
        owners: Sequence[str] | None = None,
        uploaders: Sequence[Uploader | Mapping[str, Any]] | None = None,
        global_write: bool | None = None,
        *,
        append: bool = True,
        dry_run: bool = False,
        spoof: str | None = None,
    ) -> dict[str, Any]:
        """Change the project's permissions (project owners and administrators).

        Args:
            owners: User names to add (``append``) or the new owner list (a list, even for one).
            uploaders: Uploaders to add (``append``) or the new uploader list.
            global_write: New global-write flag; unchanged when ``None``.
            append: Add to the current lists instead of replacing them.
            dry_run: Only compute the change.
            spoof: Act on behalf of this user (needs the service's permission).

        Returns:
            The permission fields sent (or, with ``dry_run``, that would be sent).

        Raises:
            InvalidArgumentError: When ``owners`` or ``uploaders`` is a bare string or a single entry
                instead of a list, or holds something else (checked before anything is written).
        """
        return self._core.writes.set_permissions(
            self._parts, owners, uploaders, global_write, append, dry_run, spoof
        )

    def usage(self, *, force_remote: bool = False) -> int:
        """Bytes the project uses, as last recorded by the service.

        Raises:
            NotFoundError: When the project does not exist.
        """
        usage = self._core.documents.usage(self.name, force_remote)
        if usage is None:
            raise self._not_found(force_remote, "usage record")
        return usage

    def refresh_usage(self) -> int:
        """Recompute the project's usage from its manifests (administrators only); return it."""
        answer = self._core.writes.submit(
            "refresh_usage", {"project": self.name}, f"refresh usage of {self.name}"
        )
        return int(answer["total"])

    def remove(self) -> None:
        """Delete the project and everything in it (administrators only); a missing project is fine."""
        self._core.writes.remove(self._parts, {"project": self.name})


class Asset(_Handle):
    """An asset of a project.

    Args:
        project: The project holding the asset.
        name: Asset name.

    Raises:
        InvalidNameError: When ``name`` breaks the service's naming rules.
    """

    __slots__ = ()

    def __init__(self, project: Project, name: str) -> None:
        super().__init__(project._core, (project.name, _checked("asset", name)))

    @property
    def project(self) -> Project:
        """The project holding this asset."""
        return self._core.client.project(self._parts[0])

    @property
    def name(self) -> str:
        """Asset name."""
        return self._parts[1]

    @property
    def path(self) -> str:
        """``project/asset``."""
        return self.key

    def exists(self, *, force_remote: bool = False) -> bool:
        """Whether the asset directory exists."""
        return self._exists(force_remote)

    def version(self, name: str) -> Version:
        """Handle on a version of this asset (no I/O)."""
        return Version(self, name)

    def versions(
        self, *, order: Literal["name", "upload_time"] = "name", force_remote: bool = False
    ) -> list[Version]:
        """Every version of the asset (probational ones included), in natural or upload order.

        Args:
            order: ``"name"`` sorts names naturally: runs of digits compare as numbers, so ``v2`` comes
                before ``v10`` and ``2024-9`` before ``2024-10``. ``"upload_time"`` sorts by when each
                upload finished (oldest first; reads every version's summary). The service records
                whole seconds, so versions finished within one second keep their natural order, as do
                versions without a readable summary, which come last.
            force_remote: List through the REST API even when the registry is mounted.

        Raises:
            NotFoundError: When the asset does not exist.
            InvalidArgumentError: When ``order`` is neither ``"name"`` nor ``"upload_time"``.
        """
        if order not in ("name", "upload_time"):
            raise InvalidArgumentError(f"order must be 'name' or 'upload_time', not {order!r}")
        try:
            listed = self._core.documents.subdirectories(self.key, force_remote)
        except NotFoundError as exc:
            raise self._not_found(force_remote, "directory", exc) from None
        names = sorted(listed, key=_natural_key)
        versions = [self.version(name) for name in names]
        if order == "name":
            return versions
        finished: dict[Version, tuple[bool, float]] = {}
        for version in versions:
            try:
                finished[version] = (
                    False,
                    version.summary(force_remote=force_remote).upload_finish.timestamp(),
                )
            except (NotFoundError, ServiceError):
                finished[version] = (True, 0.0)
        # Natural order is already there; a stable sort on the time alone keeps it for ties.
        return sorted(versions, key=finished.__getitem__)

    def latest(self, *, force_remote: bool = False) -> Version | None:
        """The latest non-probational version, as recorded by the service, or ``None``."""
        name = self._core.documents.latest((self._parts[0], self._parts[1]), force_remote)
        if name is None:
            missing = self._core.documents.missing(self._parts, force_remote)
            if missing is not None:
                raise missing
            return None
        return self.version(name)

    def refresh_latest(self) -> Version | None:
        """Recompute the latest version (administrators only) and return it."""
        answer = self._core.writes.submit(
            "refresh_latest", {"project": self._parts[0], "asset": self.name}, f"refresh latest of {self.key}"
        )
        return self.version(answer["version"]) if "version" in answer else None

    def permissions(self, *, force_remote: bool = False) -> Permissions:
        """Asset-level owners and uploaders (empty when the asset has none of its own, or no files yet).

        Raises:
            NotFoundError: When the project does not exist.
        """
        permissions = self._core.documents.permissions(self._parts, force_remote)
        if permissions is None:
            missing = self._core.documents.missing(self._parts[:1], force_remote)
            if missing is not None:
                raise missing
            return Permissions()
        return permissions

    def set_permissions(
        self,
        owners: Sequence[str] | None = None,
        uploaders: Sequence[Uploader | Mapping[str, Any]] | None = None,
        *,
        append: bool = True,
        dry_run: bool = False,
        spoof: str | None = None,
    ) -> dict[str, Any]:
        """Change the asset's own permissions (project owners, asset owners and administrators).

        Args:
            owners: User names to add (``append``) or the new owner list (a list, even for one).
            uploaders: Uploaders to add (``append``) or the new uploader list.
            append: Add to the current lists instead of replacing them.
            dry_run: Only compute the change.
            spoof: Act on behalf of this user (needs the service's permission).

        Returns:
            The permission fields sent (or, with ``dry_run``, that would be sent).

        Raises:
            InvalidArgumentError: When ``owners`` or ``uploaders`` is a bare string or a single entry
                instead of a list, or holds something else (checked before anything is written).
        """
        return self._core.writes.set_permissions(self._parts, owners, uploaders, None, append, dry_run, spoof)

    @overload
    def upload(
        self,
        version: str,
        directory: str | os.PathLike[str],
        *,
        probation: bool = False,
        consume: bool | None = None,
        ignore_dot: bool = False,
        spoof: str | None = None,
        concurrency: int | None = None,
        progress: bool | ProgressCallback | None = None,
        tqdm_class: TqdmClass | None = None,
        follow_symlinks: bool = False,
        check: bool = True,
        dry_run: Literal[False] = False,
    ) -> Version: ...

    @overload
    def upload(
        self,
        version: str,
        directory: str | os.PathLike[str],
        *,
        probation: bool = False,
        consume: bool | None = None,
        ignore_dot: bool = False,
        spoof: str | None = None,
        concurrency: int | None = None,
        progress: bool | ProgressCallback | None = None,
        tqdm_class: TqdmClass | None = None,
        follow_symlinks: bool = False,
        check: bool = True,
        dry_run: Literal[True],
    ) -> UploadPlan: ...

    def upload(
        self,
        version: str,
        directory: str | os.PathLike[str],
        *,
        probation: bool = False,
        consume: bool | None = None,
        ignore_dot: bool = False,
        spoof: str | None = None,
        concurrency: int | None = None,
        progress: bool | ProgressCallback | None = None,
        tqdm_class: TqdmClass | None = None,
        follow_symlinks: bool = False,
        check: bool = True,
        dry_run: bool = False,
    ) -> Version | UploadPlan:
        """Upload ``directory`` as a new version of this asset.

        A directory directly inside the staging directory is submitted in place; any other is first copied
        into a fresh staging directory (removed afterwards, also on failure). Before the copy, the tree is
        checked for what the service would refuse — FIFOs, devices and sockets, unreadable files, dangling
        symlinks, symlinks to directories, and symlinks that leave both the tree and the registry — and
        refused with every offending path listed. Symlinks to files inside the tree and into the registry
        stay links (the service records them as links without storing the bytes twice).

        Args:
            version: Name of the new version.
            directory: Directory to upload.
            probation: Upload as a probational version.
            consume: Let the service move files out of the directory instead of copying; defaults to
                ``True`` for the private copy and ``False`` for a directory already in staging.
            ignore_dot: Skip dotfiles and dot-directories (default: send them, as the service does; the
                functional API keeps pygobbler's ``True``).
            spoof: Upload on behalf of this user (needs the service's permission).
            concurrency: Parallel file copies when staging; the client's setting when ``None``.
            progress: ``None`` for a bar when standard error is a terminal (or in Jupyter), ``False`` for
                none, or a callable receiving a progress event after every file copied into staging.
            tqdm_class: Draw the bar with this ``tqdm`` class.
            follow_symlinks: Upload what the refused symlinks point to (a file's bytes, a directory's
                contents) instead of refusing them. Only for copies: a directory already in staging is
                submitted as it is.
            check: Refuse a version that already exists before anything is copied (one listing);
                ``False`` leaves it to the service, which answers HTTP 400 after the copy.
            dry_run: Copy and submit nothing; return the :class:`~gobbler_sdk.UploadPlan` (what would be
                stored, linked to the latest version, kept as local links, and skipped).

        Returns:
            The new version (with ``dry_run``, the plan).

        Raises:
            InvalidNameError: When ``version`` is invalid (checked before anything is written).
            InvalidRequestError: When the tree holds entries the service would refuse (nothing is written).
            ConfigurationError: When the staging directory is missing, not writable or not the service's.
            LocalFileError: When reading the tree or writing the copy fails (also the matching ``OSError``).
            OutcomeUnknownError: When no answer came within the client's ``submit_timeout``.
            GobblerError: The typed error for whatever the service refused.
        """
        if dry_run:
            return self.plan_upload(
                version, directory, ignore_dot=ignore_dot, follow_symlinks=follow_symlinks
            )
        target = self.version(version)
        self._core.writes.upload(
            target._parts,
            Path(directory),
            probation=probation,
            consume=consume,
            ignore_dot=ignore_dot,
            spoof=spoof,
            concurrency=concurrency,
            progress=with_tqdm_class(progress, tqdm_class),
            follow_symlinks=follow_symlinks,
            check=check,
        )
        return target

    def remove(self, *, force: bool = False) -> None:
        """Delete the asset and all its versions (administrators only); a missing asset is fine."""
        payload: dict[str, Any] = {"project": self._parts[0], "asset": self.name}
        if force:
            payload["force"] = True
        self._core.writes.remove(self._parts, payload)

    def plan_upload(
        self,
        version: str,
        directory: str | os.PathLike[str],
        *,
        ignore_dot: bool = False,
        follow_symlinks: bool = False,
        force_remote: bool = False,
    ) -> UploadPlan:
        """What :meth:`upload` would store, link and skip, copying and submitting nothing.

        The same as ``upload(..., dry_run=True)``; see :func:`gobbler_sdk.comparison.plan_upload`.
        """
        return plan_upload(
            self,
            version,
            directory,
            ignore_dot=ignore_dot,
            follow_symlinks=follow_symlinks,
            force_remote=force_remote,
        )


class Version(_Handle):
    """A version of an asset.

    Args:
        asset: The asset holding the version.
        name: Version name.

    Raises:
        InvalidNameError: When ``name`` breaks the service's naming rules.
    """

    __slots__ = ()

    def __init__(self, asset: Asset, name: str) -> None:
        project, asset_name = asset._parts
        super().__init__(asset._core, (project, asset_name, _checked("version", name)))

    @property
    def asset(self) -> Asset:
        """The asset holding this version."""
        return self.project.asset(self._parts[1])

    @property
    def project(self) -> Project:
        """The project holding this version."""
        return self._core.client.project(self._parts[0])

    @property
    def name(self) -> str:
        """Version name."""
        return self._parts[2]

    @property
    def path(self) -> str:
        """``project/asset/version`` (a registry key; :meth:`fetch_directory` gives a local directory)."""
        return self.key

    def _fields(self) -> dict[str, Any]:
        return {"project": self._parts[0], "asset": self._parts[1], "version": self.name}

    def exists(self, *, force_remote: bool = False) -> bool:
        """Whether the version directory exists."""
        return self._exists(force_remote)

    def manifest(self, *, force_remote: bool = False, overwrite: bool = False) -> Manifest:
        """Every file of the version with its size, MD5 and link.

        Remotely, the manifest of a non-probational version is cached after the first request and then
        served without asking the service again.

        Args:
            force_remote: Read through the REST API even when the registry is mounted.
            overwrite: Ask the service again even when a cached copy exists (after an administrator
                reindexed or rerouted the version).

        Raises:
            NotFoundError: When the version (or its manifest) does not exist.
        """
        return self._core.documents.manifest(self._parts, force_remote, overwrite)

    def summary(self, *, force_remote: bool = False, overwrite: bool = False) -> Summary:
        """Who uploaded the version, when, and whether it is on probation.

        Remotely, the summary of a non-probational version is cached and served without a request.

        Args:
            force_remote: Read through the REST API even when the registry is mounted.
            overwrite: Ask the service again even when a cached copy exists.

        Raises:
            NotFoundError: When the version (or its summary) does not exist.
        """
        return self._core.documents.summary(self._parts, force_remote, overwrite)

    def read_document(
        self, name: Literal["..summary", "..manifest"], *, force_remote: bool = False, overwrite: bool = False
    ) -> bytes:
        """The version's ``..summary`` or ``..manifest`` as stored.

        Read as :meth:`summary` and :meth:`manifest` read it: a settled version's kept copy answers.

        Args:
            name: ``"..summary"`` or ``"..manifest"``.
            force_remote: Read through the REST API even when the registry is mounted.
            overwrite: Ask the service again even when a kept copy could answer.

        Raises:
            InvalidArgumentError: For any other name.
            NotFoundError: When the version (or the document) does not exist.
        """
        if name not in ("..summary", "..manifest"):
            raise InvalidArgumentError(f"name must be '..summary' or '..manifest', not {name!r}")
        return self._core.documents.version_document(self._parts, name, force_remote, overwrite)

    def files(
        self,
        prefix: str | None = None,
        *,
        include_dotdot: bool = True,
        empty_directories: bool = False,
        force_remote: bool = False,
    ) -> list[str]:
        """Paths of the files in the version, as listed by the registry.

        Args:
            prefix: Keep only paths starting with this text.
            include_dotdot: Keep internal ``..`` files (``..manifest``, ``..summary``, ``..links``).
            empty_directories: Also list the deepest empty directories, with a trailing ``/`` (as the
                service's recursive listing does).
            force_remote: List through the REST API.

        Raises:
            NotFoundError: When the project, asset or version does not exist.
        """
        try:
            listing = self._core.documents.listing(self.key, recursive=True, force_remote=force_remote)
        except NotFoundError as exc:
            raise self._not_found(force_remote, "directory", exc) from None
        paths = listing if empty_directories else [p for p in listing if not p.endswith("/")]
        if not include_dotdot:
            paths = [p for p in paths if not any(part.startswith("..") for part in p.split("/"))]
        if prefix is not None:
            paths = [p for p in paths if p.startswith(prefix)]
        return paths

    def fetch(self, relpath: str, **options: Unpack[FileOptions]) -> Path:
        """Local path of one file of the version: the registry's own, or a verified cached copy.

        Args:
            relpath: Path of the file inside the version.
            **options: As for :meth:`GobblerClient.fetch_file <gobbler_sdk.GobblerClient.fetch_file>`
                (``force_remote``, ``overwrite``, ``verify``, ``progress``, ``tqdm_class``).
        """
        return self._core.downloads.fetch_file(f"{self.key}/{checked_relative(relpath)}", **options)

    def read_bytes(
        self,
        relpath: str,
        start: int = 0,
        end: int | None = None,
        *,
        verify: bool = True,
        force_remote: bool = False,
    ) -> bytes:
        """Bytes ``start`` to ``end`` of one file of the version, without downloading the rest.

        Remotely only the asked range travels (one HTTP ``Range`` request); on a mounted registry the
        file is read in place. Only a read covering the whole file can be, and is, verified against the
        manifest (see :meth:`GobblerClient.read_range <gobbler_sdk.GobblerClient.read_range>`).

        Args:
            relpath: Path of the file inside the version.
            start: First byte (0-based).
            end: End of the range (exclusive); ``None`` for the end of the file.
            verify: Check a whole-file read's size and MD5 against the manifest.
            force_remote: Read through the REST API even when the registry is mounted.
        """
        return self._core.downloads.read_range(
            f"{self.key}/{checked_relative(relpath)}", start, end, verify=verify, force_remote=force_remote
        )

    def open(self, relpath: str, *, force_remote: bool = False) -> BinaryIO:
        """Open one file of the version for binary reading.

        Through the transport: a cached copy, or the registry's own file when it is mounted.
        """
        return self._core.downloads.open(f"{self.key}/{checked_relative(relpath)}", force_remote=force_remote)

    def fetch_directory(self, **options: Unpack[DirectoryOptions]) -> Path:
        """Local directory holding the whole version (the registry's own when mounted).

        Remotely, files come from the manifest: downloaded concurrently, each verified (unless ``verify``
        is false), each linked file's bytes fetched once, empty directories created. The options are those
        of :meth:`GobblerClient.fetch_directory <gobbler_sdk.GobblerClient.fetch_directory>`: patterns
        match paths inside the version, ``local_dir`` receives a copy of the selected files (never links
        into the cache) and is returned, and ``verify=False`` skips the MD5 hashing of downloads and of
        cached copies.
        """
        return self._core.downloads.fetch_directory(self.key, **options)

    download = fetch_directory

    def clone(self, destination: str | os.PathLike[str]) -> Path:
        """Fill ``destination`` with symlinks to every file of the version in the mounted registry.

        Upload the result (after changing what you need) to create a cheap new version: unchanged files
        become links to this version instead of copies.

        Returns:
            ``destination``.
        """
        return self._core.writes.clone(self._parts, Path(destination))

    def approve(self, *, spoof: str | None = None, check: bool = True) -> None:
        """Approve this probational version (project owners and administrators).

        Args:
            spoof: Act on behalf of this user (needs the service's permission).
            check: Refuse a version that is not on probation before anything is sent (one read of its
                summary); ``False`` leaves it to the service, which answers HTTP 500.

        Raises:
            InvalidRequestError: When the version is not on probation (checked before anything is sent;
                the service's answer stays authoritative for a race with another approval).
            NotFoundError: When the version does not exist.
        """
        if check:
            self._require_probation("approve")
        self._core.writes.submit("approve_probation", self._with_spoof(spoof), f"approve {self.key}")

    def reject(self, *, force: bool = False, spoof: str | None = None, check: bool = True) -> None:
        """Reject (delete) this probational version (project owners and administrators).

        Args:
            force: Delete it even when its manifest cannot be read to update the usage.
            spoof: Act on behalf of this user (needs the service's permission).
            check: As for :meth:`approve`.

        Raises:
            InvalidRequestError: When the version is not on probation (checked before anything is sent).
            NotFoundError: When the version does not exist.
        """
        if check:
            self._require_probation("reject")
        payload = self._with_spoof(spoof)
        if force:
            payload["force"] = True
        self._core.writes.submit("reject_probation", payload, f"reject {self.key}")

    def remove(self, *, force: bool = False) -> None:
        """Delete the version (administrators only); a missing version is fine."""
        payload = self._fields()
        if force:
            payload["force"] = True
        self._core.writes.remove(self._parts, payload)

    def reindex(self) -> None:
        """Regenerate the version's manifest and link files from its contents (administrators only)."""
        self._core.writes.submit("reindex_version", self._fields(), f"reindex {self.key}")

    def validate(self) -> None:
        """Check the version's files against its manifest (administrators only).

        Raises:
            ServiceError: Describing the first discrepancy found.
        """
        self._core.writes.submit("validate_version", self._fields(), f"validate {self.key}")

    def _require_probation(self, action: str) -> None:
        if not self.summary(overwrite=True).on_probation:
            raise InvalidRequestError(f"cannot {action} {self.key}: it is not on probation")

    def _with_spoof(self, spoof: str | None) -> dict[str, Any]:
        payload = self._fields()
        if spoof is not None:
            payload["spoof"] = spoof
        return payload

    def diff(self, old: Version, *, tables: bool = False, force_remote: bool = False) -> VersionDiff:
        """What changed from ``old`` to this version, from the two manifests (falsy when identical).

        See :func:`gobbler_sdk.comparison.diff_versions`.
        """
        return diff_versions(self, old, tables=tables, force_remote=force_remote)

    def verify(
        self,
        directory: str | os.PathLike[str],
        *,
        follow_symlinks: bool = False,
        force_remote: bool = False,
    ) -> VerifyReport:
        """Compare a local copy of this version with its manifest: missing, extra and changed paths, ``ok``.

        See :func:`gobbler_sdk.comparison.verify_directory`.
        """
        return verify_directory(
            self.manifest(force_remote=force_remote),
            directory,
            version=self.key,
            follow_symlinks=follow_symlinks,
        )
