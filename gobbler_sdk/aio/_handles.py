"""Lazy async handles: :class:`AsyncProject`, :class:`AsyncAsset` and :class:`AsyncVersion`.

Each wraps the sync handle of the same name and path and awaits its methods on the client's worker threads
(see :mod:`gobbler_sdk.aio._offload`): the behaviour, the arguments, the errors and the cache are the sync
handles', by construction. Creating a handle does no I/O; every method that does is a coroutine. A test
(``tests/aio/test_parity.py``) holds the two surfaces to the same names and parameters.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, overload

from .._progress import ProgressCallback, TqdmClass
from ..comparison import UploadPlan, VerifyReport, VersionDiff
from ..handles import Asset, Project, Version
from ..models import Manifest, Permissions, Summary, Uploader

if sys.version_info >= (3, 11):
    from typing import Unpack
else:
    from typing_extensions import Unpack

if TYPE_CHECKING:
    from .._downloads import DirectoryOptions, FileOptions
    from ._client import AsyncGobblerClient

__all__ = ["AsyncAsset", "AsyncProject", "AsyncVersion"]


class _AsyncHandle:
    """Identity, immutability and ordering, taken from the wrapped sync handle."""

    __slots__ = ("_client", "_sync")

    _client: AsyncGobblerClient
    _sync: Project | Asset | Version

    def __init__(self, client: AsyncGobblerClient, sync: Project | Asset | Version) -> None:
        object.__setattr__(self, "_client", client)
        object.__setattr__(self, "_sync", sync)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} handles are immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} handles are immutable")

    @property
    def client(self) -> AsyncGobblerClient:
        """The async client this handle reads and writes through."""
        return self._client

    @property
    def key(self) -> str:
        """``project``, ``project/asset`` or ``project/asset/version``."""
        return self._sync.key

    @property
    def path(self) -> str:
        """Registry-relative path (the same as :attr:`key`)."""
        return self._sync.key

    @property
    def name(self) -> str:
        """The project's, asset's or version's name."""
        return self._sync.name

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _AsyncHandle)
        return self._sync == other._sync

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._sync))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, _AsyncHandle):
            return NotImplemented
        return self.key.split("/") < other.key.split("/")

    def __le__(self, other: object) -> bool:
        if not isinstance(other, _AsyncHandle):
            return NotImplemented
        return self.key.split("/") <= other.key.split("/")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key!r})"

    async def exists(self, *, force_remote: bool = False) -> bool:
        """Whether the directory exists (see :meth:`~gobbler_sdk.Project.exists`)."""
        return await self._client._run(self._sync.exists, force_remote=force_remote)


class AsyncProject(_AsyncHandle):
    """A project of the registry, for coroutines; see :class:`~gobbler_sdk.Project` for every method.

    Made by :meth:`~gobbler_sdk.AsyncGobblerClient.project`.
    """

    __slots__ = ()
    _sync: Project

    @property
    def sync(self) -> Project:
        """The sync handle on the same project (same client session and cache)."""
        return self._sync

    async def create(
        self,
        owners: Sequence[str] | None = None,
        uploaders: Sequence[Uploader | Mapping[str, Any]] | None = None,
        *,
        global_write: bool | None = None,
    ) -> AsyncProject:
        """Create the project (administrators only); see :meth:`~gobbler_sdk.Project.create`."""
        await self._client._run(self._sync.create, owners, uploaders, global_write=global_write)
        return self

    def asset(self, name: str) -> AsyncAsset:
        """Handle on an asset of this project (no I/O)."""
        return AsyncAsset(self._client, self._sync.asset(name))

    async def assets(self, *, force_remote: bool = False) -> list[AsyncAsset]:
        """Every asset of the project, sorted by name."""
        assets = await self._client._run(self._sync.assets, force_remote=force_remote)
        return [AsyncAsset(self._client, asset) for asset in assets]

    async def permissions(self, *, force_remote: bool = False) -> Permissions:
        """The project's owners, uploaders and global-write flag."""
        return await self._client._run(self._sync.permissions, force_remote=force_remote)

    async def set_permissions(
        self,
        owners: Sequence[str] | None = None,
        uploaders: Sequence[Uploader | Mapping[str, Any]] | None = None,
        global_write: bool | None = None,
        *,
        append: bool = True,
        dry_run: bool = False,
        spoof: str | None = None,
    ) -> dict[str, Any]:
        """Change the project's permissions; see :meth:`~gobbler_sdk.Project.set_permissions`."""
        return await self._client._run(
            self._sync.set_permissions,
            owners,
            uploaders,
            global_write,
            append=append,
            dry_run=dry_run,
            spoof=spoof,
        )

    async def usage(self, *, force_remote: bool = False) -> int:
        """Bytes the project uses, as last recorded by the service."""
        return await self._client._run(self._sync.usage, force_remote=force_remote)

    async def refresh_usage(self) -> int:
        """Recompute the project's usage (administrators only); return it."""
        return await self._client._run(self._sync.refresh_usage)

    async def remove(self) -> None:
        """Delete the project and everything in it (administrators only)."""
        await self._client._run(self._sync.remove)


class AsyncAsset(_AsyncHandle):
    """An asset of a project, for coroutines; see :class:`~gobbler_sdk.Asset` for every method."""

    __slots__ = ()
    _sync: Asset

    @property
    def sync(self) -> Asset:
        """The sync handle on the same asset."""
        return self._sync

    @property
    def project(self) -> AsyncProject:
        """The project holding this asset."""
        return AsyncProject(self._client, self._sync.project)

    def version(self, name: str) -> AsyncVersion:
        """Handle on a version of this asset (no I/O)."""
        return AsyncVersion(self._client, self._sync.version(name))

    async def versions(
        self, *, order: Literal["name", "upload_time"] = "name", force_remote: bool = False
    ) -> list[AsyncVersion]:
        """Every version of the asset; see :meth:`~gobbler_sdk.Asset.versions`."""
        versions = await self._client._run(self._sync.versions, order=order, force_remote=force_remote)
        return [AsyncVersion(self._client, version) for version in versions]

    async def latest(self, *, force_remote: bool = False) -> AsyncVersion | None:
        """The latest non-probational version, or ``None``; see :meth:`~gobbler_sdk.Asset.latest`."""
        latest = await self._client._run(self._sync.latest, force_remote=force_remote)
        return None if latest is None else AsyncVersion(self._client, latest)

    async def refresh_latest(self) -> AsyncVersion | None:
        """Recompute the latest version (administrators only) and return it."""
        latest = await self._client._run(self._sync.refresh_latest)
        return None if latest is None else AsyncVersion(self._client, latest)

    async def permissions(self, *, force_remote: bool = False) -> Permissions:
        """Asset-level owners and uploaders; see :meth:`~gobbler_sdk.Asset.permissions`."""
        return await self._client._run(self._sync.permissions, force_remote=force_remote)

    async def set_permissions(
        self,
        owners: Sequence[str] | None = None,
        uploaders: Sequence[Uploader | Mapping[str, Any]] | None = None,
        *,
        append: bool = True,
        dry_run: bool = False,
        spoof: str | None = None,
    ) -> dict[str, Any]:
        """Change the asset's own permissions; see :meth:`~gobbler_sdk.Asset.set_permissions`."""
        return await self._client._run(
            self._sync.set_permissions, owners, uploaders, append=append, dry_run=dry_run, spoof=spoof
        )

    @overload
    async def upload(
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
    ) -> AsyncVersion: ...

    @overload
    async def upload(
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

    async def upload(
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
    ) -> AsyncVersion | UploadPlan:
        """Upload ``directory`` as a new version; see :meth:`~gobbler_sdk.Asset.upload`.

        The copy into staging runs on a worker thread. Cancelling the task stops the copy (and removes it)
        before the request is handed to the service; after that, the task raises
        :class:`~gobbler_sdk.errors.OutcomeUnknownError` and nothing is resent.
        """
        if dry_run:
            return await self.plan_upload(
                version, directory, ignore_dot=ignore_dot, follow_symlinks=follow_symlinks
            )
        uploaded = await self._client._run(
            self._sync.upload,
            version,
            directory,
            probation=probation,
            consume=consume,
            ignore_dot=ignore_dot,
            spoof=spoof,
            concurrency=concurrency,
            progress=progress,
            tqdm_class=tqdm_class,
            follow_symlinks=follow_symlinks,
            check=check,
        )
        return AsyncVersion(self._client, uploaded)

    async def plan_upload(
        self,
        version: str,
        directory: str | os.PathLike[str],
        *,
        ignore_dot: bool = False,
        follow_symlinks: bool = False,
        force_remote: bool = False,
    ) -> UploadPlan:
        """What :meth:`upload` would store, link and skip; see :meth:`~gobbler_sdk.Asset.plan_upload`."""
        return await self._client._run(
            self._sync.plan_upload,
            version,
            directory,
            ignore_dot=ignore_dot,
            follow_symlinks=follow_symlinks,
            force_remote=force_remote,
        )

    async def remove(self, *, force: bool = False) -> None:
        """Delete the asset and all its versions (administrators only)."""
        await self._client._run(self._sync.remove, force=force)


class AsyncVersion(_AsyncHandle):
    """A version of an asset, for coroutines; see :class:`~gobbler_sdk.Version` for every method."""

    __slots__ = ()
    _sync: Version

    @property
    def sync(self) -> Version:
        """The sync handle on the same version."""
        return self._sync

    @property
    def asset(self) -> AsyncAsset:
        """The asset holding this version."""
        return AsyncAsset(self._client, self._sync.asset)

    @property
    def project(self) -> AsyncProject:
        """The project holding this version."""
        return AsyncProject(self._client, self._sync.project)

    async def manifest(self, *, force_remote: bool = False, overwrite: bool = False) -> Manifest:
        """Every file of the version; see :meth:`~gobbler_sdk.Version.manifest`."""
        return await self._client._run(self._sync.manifest, force_remote=force_remote, overwrite=overwrite)

    async def summary(self, *, force_remote: bool = False, overwrite: bool = False) -> Summary:
        """Who uploaded the version and when; see :meth:`~gobbler_sdk.Version.summary`."""
        return await self._client._run(self._sync.summary, force_remote=force_remote, overwrite=overwrite)

    async def read_document(
        self, name: Literal["..summary", "..manifest"], *, force_remote: bool = False, overwrite: bool = False
    ) -> bytes:
        """The version's ``..summary`` or ``..manifest`` as stored."""
        return await self._client._run(
            self._sync.read_document, name, force_remote=force_remote, overwrite=overwrite
        )

    async def files(
        self,
        prefix: str | None = None,
        *,
        include_dotdot: bool = True,
        empty_directories: bool = False,
        force_remote: bool = False,
    ) -> list[str]:
        """Paths of the files in the version; see :meth:`~gobbler_sdk.Version.files`."""
        return await self._client._run(
            self._sync.files,
            prefix,
            include_dotdot=include_dotdot,
            empty_directories=empty_directories,
            force_remote=force_remote,
        )

    async def fetch(self, relpath: str, **options: Unpack[FileOptions]) -> Path:
        """Local path of one file of the version; see :meth:`~gobbler_sdk.Version.fetch`."""
        return await self._client._run(self._sync.fetch, relpath, **options)

    async def read_bytes(
        self,
        relpath: str,
        start: int = 0,
        end: int | None = None,
        *,
        verify: bool = True,
        force_remote: bool = False,
    ) -> bytes:
        """Bytes ``start`` to ``end`` of one file; see :meth:`~gobbler_sdk.Version.read_bytes`."""
        return await self._client._run(
            self._sync.read_bytes, relpath, start, end, verify=verify, force_remote=force_remote
        )

    async def open(self, relpath: str, *, force_remote: bool = False) -> BinaryIO:
        """Open one file of the version for binary reading (a local file: the registry's or a cached copy).

        The file is placed first, off the event loop; reading the returned file object reads local disk.
        """
        return await self._client._run(self._sync.open, relpath, force_remote=force_remote)

    async def fetch_directory(self, **options: Unpack[DirectoryOptions]) -> Path:
        """Local directory holding the whole version; see :meth:`~gobbler_sdk.Version.fetch_directory`.

        Cancelling the task stops the transfers at their next chunk: the files in the cache are then each
        complete and verified or absent (a large file keeps its resumable partial copy, as after Ctrl-C).
        """
        return await self._client._run(self._sync.fetch_directory, **options)

    async def download(self, **options: Unpack[DirectoryOptions]) -> Path:
        """The same as :meth:`fetch_directory`."""
        return await self.fetch_directory(**options)

    async def clone(self, destination: str | os.PathLike[str]) -> Path:
        """Fill ``destination`` with symlinks to the version's files in the mounted registry."""
        return await self._client._run(self._sync.clone, destination)

    async def approve(self, *, spoof: str | None = None, check: bool = True) -> None:
        """Approve this probational version; see :meth:`~gobbler_sdk.Version.approve`."""
        await self._client._run(self._sync.approve, spoof=spoof, check=check)

    async def reject(self, *, force: bool = False, spoof: str | None = None, check: bool = True) -> None:
        """Reject (delete) this probational version; see :meth:`~gobbler_sdk.Version.reject`."""
        await self._client._run(self._sync.reject, force=force, spoof=spoof, check=check)

    async def remove(self, *, force: bool = False) -> None:
        """Delete the version (administrators only); a missing version is fine."""
        await self._client._run(self._sync.remove, force=force)

    async def reindex(self) -> None:
        """Regenerate the version's manifest and link files (administrators only)."""
        await self._client._run(self._sync.reindex)

    async def validate(self) -> None:
        """Check the version's files against its manifest (administrators only)."""
        await self._client._run(self._sync.validate)

    async def diff(
        self, old: AsyncVersion, *, tables: bool = False, force_remote: bool = False
    ) -> VersionDiff:
        """What changed from ``old`` to this version; see :meth:`~gobbler_sdk.Version.diff`."""
        return await self._client._run(self._sync.diff, old._sync, tables=tables, force_remote=force_remote)

    async def verify(
        self,
        directory: str | os.PathLike[str],
        *,
        follow_symlinks: bool = False,
        force_remote: bool = False,
    ) -> VerifyReport:
        """Compare a local copy with the manifest; see :meth:`~gobbler_sdk.Version.verify`."""
        return await self._client._run(
            self._sync.verify, directory, follow_symlinks=follow_symlinks, force_remote=force_remote
        )
