"""``gobbler://``: a read-only fsspec filesystem over a Gobbler registry, for pandas, pyarrow and Dask.

Installing gobbler-sdk registers the ``gobbler`` protocol with fsspec (the ``fsspec.specs`` entry point),
so ``pandas.read_csv("gobbler://project/asset/v1/table.csv")``, ``fsspec.open(...)``,
``upath.UPath("gobbler://...")`` and ``dask.dataframe.read_parquet(...)`` work with the same options and
environment variables as :class:`~gobbler_sdk.GobblerClient` (``GOBBLER_URL``, ``GOBBLER_REGISTRY``, ...).

It is an edge of the SDK: every read goes through the public client API (handles, manifests,
:meth:`GobblerClient.read_range <gobbler_sdk.GobblerClient.read_range>`). See docs/pydata.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, NoReturn, TypeVar

from fsspec.asyn import AsyncFileSystem
from fsspec.callbacks import DEFAULT_CALLBACK
from fsspec.spec import AbstractFileSystem

from ..aio import AsyncGobblerClient, AsyncVersion
from ..client import GobblerClient
from ..errors import InvalidNameError, NotFoundError, ReadOnlyError
from ..handles import Asset, Version
from ._file import GobblerFile
from ._tree import LATEST, ParsedPath, VersionTree, parse_path

__all__ = ["DEFAULT_BLOCK_SIZE", "LATEST", "GobblerFile", "GobblerFileSystem"]

#: Bytes per block of an opened file's cache: small enough that reading one column of a Parquet file
#: fetches little else, large enough that a sequential scan needs few requests (pass ``block_size`` to
#: ``open`` or to the filesystem to change it).
DEFAULT_BLOCK_SIZE = 256 * 1024

# Settled versions whose trees are kept, most recently used last.
_KEPT_TREES = 64

# Options that belong to fsspec's AbstractFileSystem (its listings cache), not to the client.
_FSSPEC_OPTIONS = ("use_listings_cache", "listings_expiry_time", "max_paths")

_UPLOAD_HINT = (
    "gobbler:// is read-only: versions are immutable and appear whole; add files by uploading a new "
    "version with Asset.upload, e.g. GobblerClient(url).project(p).asset(a).upload(version, directory)"
)


def _read_only(what: str, path: object) -> NoReturn:
    raise ReadOnlyError(f"cannot {what} {path!r}: {_UPLOAD_HINT}")


@contextlib.contextmanager
def _not_found_as_oserror(path: str) -> Iterator[None]:
    """Report a missing (or impossibly named) registry object as the FileNotFoundError fsspec expects."""
    try:
        yield
    except (NotFoundError, InvalidNameError) as exc:
        raise FileNotFoundError(errno.ENOENT, f"no such path in the registry ({exc})", path) from exc


def _bounds(size: int, start: int | None, end: int | None) -> tuple[int, int]:
    """``start`` and ``end`` of a read as offsets in a file of ``size`` bytes (negative: from the end)."""
    first = 0 if start is None else (max(size + start, 0) if start < 0 else min(start, size))
    stop = size if end is None else (max(size + end, 0) if end < 0 else min(end, size))
    return first, stop


_V = TypeVar("_V", Version, AsyncVersion)

_CachedMeta: Any = type(AbstractFileSystem)


class _InstancePerClient(_CachedMeta):  # type: ignore[misc]
    """fsspec's instance cache, except for filesystems over a given ``client=``.

    fsspec reuses an instance when the arguments' text is the same, and two different clients can print
    the same; a filesystem made for a client is therefore always a new instance over that very client.
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("client") is not None:
            kwargs["skip_instance_cache"] = True
        return super().__call__(*args, **kwargs)


class GobblerFileSystem(AsyncFileSystem, metaclass=_InstancePerClient):  # type: ignore[misc]
    """A Gobbler registry as a read-only fsspec filesystem (protocol ``gobbler``).

    Paths: ``""`` (the projects), ``project``, ``project/asset``, ``project/asset/version`` and the files
    and directories inside a version. The version ``..latest`` stands for the asset's latest
    non-probational version (``gobbler://proj/asset/..latest/table.csv``); no real version can be called
    that, since names cannot start with ``..``.

    Listings inside a version come from its manifest: one document (cached, remotely, once the version is
    settled), whatever the number of directories. Reads are ranged: only the bytes asked for (rounded up to
    the block cache's blocks) travel; reads that cover a whole file are checked against the manifest's MD5,
    partial reads cannot be. ``get``/``get_file`` download as :meth:`Version.fetch
    <gobbler_sdk.Version.fetch>` does (verified, into the client's cache) and copy to the destination.

    Writing, deleting and creating directories raise :class:`~gobbler_sdk.ReadOnlyError`.

    It is also an fsspec ``AsyncFileSystem``: the coroutines (``_cat_file``, ``_cat_ranges``, ``_info``,
    ``_ls``, ``_find``, ``_exists``) read through :class:`~gobbler_sdk.AsyncGobblerClient` on the same
    session, so asyncio libraries such as Zarr v3 (``zarr.open_group("gobbler://...")``) read the registry
    natively. The sync methods stay the sync ones (nothing is routed through fsspec's event loop).

    Instances pickle by their options (fsspec's instance cache is respected), so Dask ships them to
    workers, which build their own client from the same options.

    Args:
        url: The service's URL (``GOBBLER_URL`` when not given).
        service_url: The same as ``url``, for ``storage_options`` handed to libraries that call
            ``fsspec.core.url_to_fs(url, **storage_options)`` (pandas, pyarrow, Dask), where ``url`` is
            taken by the path itself.
        client: An existing client to read through (then no other client option may be given; such an
            instance is never shared through fsspec's cache, and pickles only if the client does).
        block_size: Default bytes per cache block of opened files.
        cache_type: Default fsspec cache of opened files (``"readahead"``, ``"blockcache"``, ``"all"``...).
        **options: Passed to :class:`~gobbler_sdk.GobblerClient` (``registry``, ``staging``, ``cache``,
            ``transport``, ``timeout``, ``retries``, ...); fsspec's own listings-cache options are accepted.

    Raises:
        TypeError: When ``client`` is combined with client options, or an option is unknown.
    """

    protocol = "gobbler"
    root_marker = ""
    # The sync methods are written out below; fsspec must not replace them with wrappers of the coroutines.
    mirror_sync_methods = False

    def __init__(
        self,
        url: str | None = None,
        *,
        service_url: str | None = None,
        client: GobblerClient | None = None,
        block_size: int = DEFAULT_BLOCK_SIZE,
        cache_type: str = "readahead",
        **options: Any,
    ) -> None:
        fsspec_options = {key: options.pop(key) for key in _FSSPEC_OPTIONS if key in options}
        # The async side needs no loop of fsspec's: its coroutines run on the caller's loop, so
        # AsyncFileSystem's own set-up (which starts fsspec's loop thread) is skipped.
        AbstractFileSystem.__init__(self, **fsspec_options)
        self.asynchronous = bool(options.pop("asynchronous", False))
        self._loop = options.pop("loop", None)
        self.batch_size = options.pop("batch_size", None)
        self._pid = os.getpid()
        if url is not None and service_url is not None and url != service_url:
            raise TypeError("url= and service_url= name the same thing: pass one of them")
        url = url or service_url
        if client is not None:
            if url is not None or options:
                raise TypeError(
                    "pass either client= or the client's options (url=, registry=, ...), not both"
                )
            self.client = client
        else:
            self.client = GobblerClient(url, **options)
        self.default_block_size = block_size
        self.default_cache_type = cache_type
        self._trees: OrderedDict[str, VersionTree] = OrderedDict()
        self._lock = threading.Lock()
        self._async_client: AsyncGobblerClient | None = None

    # ------------------------------------------------------------------ paths

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(each) for each in path]
        stripped: str = super()._strip_protocol(path)
        return parse_path(stripped).name

    def _version(self, parsed: ParsedPath) -> Version:
        """The version a path of three or more parts is in (the alias resolved)."""
        project, asset_name, version = parsed.parts[:3]
        with _not_found_as_oserror(parsed.name):
            asset = self.client.project(project).asset(asset_name)
            if version != LATEST:
                return asset.version(version)
            latest = asset.latest()
        if latest is None:
            raise FileNotFoundError(errno.ENOENT, f"{asset.key} has no latest version", parsed.name)
        return latest

    def _tree(self, version: Version, name: str) -> VersionTree:
        """The version's tree: kept for settled versions, rebuilt for probational ones."""
        tree = self._kept_tree(version.key)
        if tree is not None:
            return tree
        with _not_found_as_oserror(name):
            summary = version.summary()
            manifest = version.manifest()
        return self._keep_tree(
            version.key, VersionTree(manifest, summary.upload_finish.timestamp(), not summary.on_probation)
        )

    def _kept_tree(self, key: str) -> VersionTree | None:
        with self._lock:
            tree = self._trees.get(key)
            if tree is not None:
                self._trees.move_to_end(key)
            return tree

    def _keep_tree(self, key: str, tree: VersionTree) -> VersionTree:
        if tree.settled:
            with self._lock:
                self._trees[key] = tree
                while len(self._trees) > _KEPT_TREES:
                    self._trees.popitem(last=False)
        return tree

    def _located(self, path: str) -> tuple[ParsedPath, Version, VersionTree]:
        parsed = parse_path(self._strip_protocol(path))
        version = self._version(parsed)
        return parsed, version, self._tree(version, parsed.name)

    def _file(self, path: str) -> tuple[ParsedPath, Version, VersionTree, dict[str, Any]]:
        """A file inside a version, with its details.

        Raises:
            FileNotFoundError: When there is no such file.
            IsADirectoryError: When the path is a directory.
        """
        parsed = parse_path(self._strip_protocol(path))
        if len(parsed.parts) < 4:
            self.info(parsed.name)  # FileNotFoundError when it does not exist
            raise IsADirectoryError(errno.EISDIR, "a directory, not a file", parsed.name)
        version = self._version(parsed)
        return self._file_in(parsed, version, self._tree(version, parsed.name))

    def _file_in(
        self, parsed: ParsedPath, version: _V, tree: VersionTree
    ) -> tuple[ParsedPath, _V, VersionTree, dict[str, Any]]:
        info = tree.info(self._prefix(parsed), parsed.inner)
        if info is None:
            raise FileNotFoundError(errno.ENOENT, f"no such file in {version.key}", parsed.name)
        if info["type"] != "file":
            raise IsADirectoryError(errno.EISDIR, "a directory, not a file", parsed.name)
        return parsed, version, tree, info

    @staticmethod
    def _prefix(parsed: ParsedPath) -> str:
        """The version's part of the path as the caller spelt it (the alias kept)."""
        return "/".join(parsed.parts[:3])

    # ------------------------------------------------------------------ listings

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        """List a directory: the projects, a project's assets, an asset's versions, or a version's contents.

        Args:
            path: The directory (a file lists as itself).
            detail: Return fsspec's details (``name``, ``size``, ``type``; ``md5``, ``link`` and ``mtime``
                for files) instead of names.
            **kwargs: Ignored (fsspec passes its own).

        Raises:
            FileNotFoundError: When the path does not exist.
        """
        parsed = parse_path(self._strip_protocol(path))
        infos: list[dict[str, Any]]
        if len(parsed.parts) < 3:
            infos = [{"name": name, "size": 0, "type": "directory"} for name in self._upper(parsed)]
        else:
            version = self._version(parsed)
            tree = self._tree(version, parsed.name)
            inner = parsed.inner
            if tree.is_dir(inner):
                infos = tree.listing(self._prefix(parsed), inner)
            else:
                info = tree.info(self._prefix(parsed), inner)
                if info is None:
                    raise FileNotFoundError(errno.ENOENT, f"no such path in {version.key}", parsed.name)
                infos = [info]
        return infos if detail else [info["name"] for info in infos]

    def _upper(self, parsed: ParsedPath) -> list[str]:
        """Names of the projects, assets or versions under a path of fewer than three parts."""
        with _not_found_as_oserror(parsed.name):
            if not parsed.parts:
                return [project.name for project in self.client.projects()]
            project = self.client.project(parsed.parts[0])
            if len(parsed.parts) == 1:
                return [asset.key for asset in project.assets()]
            return [version.key for version in project.asset(parsed.parts[1]).versions()]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """Details of one path (see :meth:`ls`).

        Raises:
            FileNotFoundError: When the path does not exist.
        """
        parsed = parse_path(self._strip_protocol(path))
        if len(parsed.parts) < 3:
            if parsed.parts and not self._upper_exists(parsed):
                raise FileNotFoundError(errno.ENOENT, "no such path in the registry", parsed.name)
            return {"name": parsed.name, "size": 0, "type": "directory"}
        version = self._version(parsed)
        info = self._tree(version, parsed.name).info(self._prefix(parsed), parsed.inner)
        if info is None:
            raise FileNotFoundError(errno.ENOENT, f"no such path in {version.key}", parsed.name)
        return info

    def _upper_exists(self, parsed: ParsedPath) -> bool:
        try:
            project = self.client.project(parsed.parts[0])
            holder: Asset | Any = project if len(parsed.parts) == 1 else project.asset(parsed.parts[1])
        except InvalidNameError:
            return False
        return bool(holder.exists())

    def exists(self, path: str, **kwargs: Any) -> bool:
        """Whether the path exists (other failures, such as an unreachable service, are raised)."""
        try:
            self.info(path)
        except FileNotFoundError:
            return False
        return True

    def find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Every file below ``path`` (inside a version: from its manifest alone), sorted by name.

        Args:
            path: Where to start.
            maxdepth: Levels to descend at most; ``None`` for all.
            withdirs: Include directories.
            detail: Return ``{name: details}`` instead of names.
            **kwargs: Passed to :meth:`ls` above versions.
        """
        parsed = parse_path(self._strip_protocol(path))
        if len(parsed.parts) < 3:
            return super().find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail, **kwargs)
        version = self._version(parsed)
        return self._find_in(parsed, self._tree(version, parsed.name), maxdepth, withdirs, detail)

    def _find_in(
        self, parsed: ParsedPath, tree: VersionTree, maxdepth: int | None, withdirs: bool, detail: bool
    ) -> Any:
        prefix, inner = self._prefix(parsed), parsed.inner
        if not tree.is_dir(inner):
            info = tree.info(prefix, inner)
            if info is None:
                return {} if detail else []
            return {info["name"]: info} if detail else [info["name"]]
        if not inner and maxdepth is None and not withdirs and not detail:
            return tree.file_names(prefix)
        found = tree.below(prefix, inner, maxdepth=maxdepth, withdirs=withdirs, detail=detail)
        if withdirs:
            found[parsed.name] = tree.dir_info(parsed.name) if detail else None
        names = sorted(found)
        return {name: found[name] for name in names} if detail else names

    def walk(
        self,
        path: str,
        maxdepth: int | None = None,
        topdown: bool = True,
        on_error: str = "omit",
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Walk the tree like ``os.walk`` (fsspec's ``walk``); inside a version, from its manifest alone."""
        parsed = parse_path(self._strip_protocol(path))
        if len(parsed.parts) < 3:
            yield from super().walk(path, maxdepth=maxdepth, topdown=topdown, on_error=on_error, **kwargs)
            return
        try:
            version = self._version(parsed)
            tree = self._tree(version, parsed.name)
        except FileNotFoundError as exc:
            if callable(on_error):
                on_error(exc)
            elif on_error == "raise":
                raise
            return
        if not tree.is_dir(parsed.inner):
            return
        yield from self._walk_tree(tree, self._prefix(parsed), parsed.inner, maxdepth, topdown, kwargs)

    def _walk_tree(
        self,
        tree: VersionTree,
        prefix: str,
        inner: str,
        maxdepth: int | None,
        topdown: bool,
        kwargs: dict[str, Any],
    ) -> Iterator[Any]:
        detail = kwargs.get("detail", False)
        base = f"{prefix}/{inner}" if inner else prefix
        dirs: dict[str, Any] = {}
        files: dict[str, Any] = {}
        for info in tree.listing(prefix, inner):
            child = info["name"].rsplit("/", 1)[-1]
            (files if info["type"] == "file" else dirs)[child] = info
        entry = (base, dirs, files) if detail else (base, list(dirs), list(files))
        if topdown:
            yield entry
        if maxdepth is None or maxdepth > 1:
            for child in list(dirs if detail else entry[1]):
                relative = f"{inner}/{child}" if inner else child
                depth = None if maxdepth is None else maxdepth - 1
                yield from self._walk_tree(tree, prefix, relative, depth, topdown, kwargs)
        if not topdown:
            yield entry

    def ukey(self, path: str) -> str:
        """A key that changes with the file: its manifest MD5 (fsspec's hash for directories)."""
        info = self.info(path)
        if info["type"] == "file":
            return str(info["md5"])
        return str(super().ukey(path))

    def checksum(self, path: str) -> int:
        """The file's MD5 from the manifest, as an integer (fsspec's checksum for directories)."""
        info = self.info(path)
        if info["type"] == "file":
            return int(info["md5"], 16)
        return int(super().checksum(path))

    def modified(self, path: str) -> datetime:
        """When the version holding ``path`` was uploaded (the registry records no per-file times).

        Raises:
            NotImplementedError: For projects, assets and the root, which have no recorded time.
        """
        info = self.info(path)
        if "mtime" not in info:
            raise NotImplementedError(f"{path!r}: the registry records no time for projects and assets")
        return datetime.fromtimestamp(info["mtime"], tz=timezone.utc)

    def invalidate_cache(self, path: str | None = None) -> None:
        """Forget the kept version trees (all, or the one ``path`` is in) and fsspec's listings."""
        with self._lock:
            if path is None:
                self._trees.clear()
            else:
                parts = parse_path(self._strip_protocol(path)).parts
                if len(parts) >= 3:
                    self._trees.pop("/".join(parts[:3]), None)
        super().invalidate_cache(path)

    # ------------------------------------------------------------------ reading

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> GobblerFile:
        if mode != "rb":
            _read_only(f"open in mode {mode!r}", path)
        parsed, version, tree, info = self._file(path)
        entry = tree.entry(parsed.inner)
        assert entry is not None
        return GobblerFile(
            self,
            parsed.name,
            registry_path=f"{version.key}/{parsed.inner}",
            entry=entry,
            details=info,
            client=self.client,
            block_size=block_size or self.default_block_size,
            cache_type=kwargs.get("cache_type") or self.default_cache_type,
            cache_options=cache_options,
        )

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        """The file's bytes ``start`` to ``end`` (negative: from the end, like a slice): one ranged read.

        Only that range travels. A read of the whole file is verified against the manifest's size and MD5;
        a part cannot be (:class:`~gobbler_sdk.IntegrityError` is raised only for whole-file reads).
        """
        parsed, version, tree, info = self._file(path)
        first, stop = _bounds(int(info["size"]), start, end)
        if stop <= first:
            return b""
        return self.client.read_range(
            f"{version.key}/{parsed.inner}", first, stop, entry=tree.entry(parsed.inner)
        )

    def get_file(
        self, rpath: str, lpath: Any, callback: Any = DEFAULT_CALLBACK, outfile: Any = None, **kwargs: Any
    ) -> None:
        """Copy one registry file to ``lpath`` (or into ``outfile``), verified like :meth:`Version.fetch`.

        Remotely the file is downloaded into the client's cache (verified against the manifest) and copied;
        on a mounted registry it is copied from the registry. A directory makes ``lpath`` a directory.
        """
        if self.isdir(rpath):
            if outfile is None and not hasattr(lpath, "write"):
                os.makedirs(lpath, exist_ok=True)
            return
        parsed, version, _, info = self._file(rpath)
        with _not_found_as_oserror(parsed.name):
            local = version.fetch(parsed.inner)
        callback.set_size(info["size"])
        if outfile is None and hasattr(lpath, "write"):
            outfile = lpath
        if outfile is not None:
            with open(local, "rb") as source:
                shutil.copyfileobj(source, outfile)
        else:
            directory = os.path.dirname(os.fspath(lpath))
            if directory:
                os.makedirs(directory, exist_ok=True)
            shutil.copyfile(local, lpath)
        callback.relative_update(info["size"])

    # ------------------------------------------------------------------ async reads (Zarr v3, asyncio)

    def _aclient(self) -> AsyncGobblerClient:
        if self._async_client is None:
            self._async_client = AsyncGobblerClient.from_client(self.client)
        return self._async_client

    async def _aversion(self, parsed: ParsedPath) -> AsyncVersion:
        project, asset_name, version = parsed.parts[:3]
        with _not_found_as_oserror(parsed.name):
            asset = self._aclient().project(project).asset(asset_name)
            if version != LATEST:
                return asset.version(version)
            latest = await asset.latest()
        if latest is None:
            raise FileNotFoundError(errno.ENOENT, f"{asset.key} has no latest version", parsed.name)
        return latest

    async def _atree(self, version: AsyncVersion, name: str) -> VersionTree:
        tree = self._kept_tree(version.key)
        if tree is not None:
            return tree
        with _not_found_as_oserror(name):
            summary, manifest = await asyncio.gather(version.summary(), version.manifest())
        finish = summary.upload_finish.timestamp()
        return self._keep_tree(version.key, VersionTree(manifest, finish, not summary.on_probation))

    async def _aupper(self, parsed: ParsedPath) -> list[str]:
        with _not_found_as_oserror(parsed.name):
            if not parsed.parts:
                return [project.name for project in await self._aclient().projects()]
            project = self._aclient().project(parsed.parts[0])
            if len(parsed.parts) == 1:
                return [asset.key for asset in await project.assets()]
            return [version.key for version in await project.asset(parsed.parts[1]).versions()]

    async def _info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        parsed = parse_path(self._strip_protocol(path))
        if len(parsed.parts) < 3:
            if parsed.parts:
                try:
                    project = self._aclient().project(parsed.parts[0])
                    exists = await (
                        project if len(parsed.parts) == 1 else project.asset(parsed.parts[1])
                    ).exists()
                except InvalidNameError:
                    exists = False
                if not exists:
                    raise FileNotFoundError(errno.ENOENT, "no such path in the registry", parsed.name)
            return {"name": parsed.name, "size": 0, "type": "directory"}
        version = await self._aversion(parsed)
        info = (await self._atree(version, parsed.name)).info(self._prefix(parsed), parsed.inner)
        if info is None:
            raise FileNotFoundError(errno.ENOENT, f"no such path in {version.key}", parsed.name)
        return info

    async def _exists(self, path: str, **kwargs: Any) -> bool:
        try:
            await self._info(path)
        except FileNotFoundError:
            return False
        return True

    async def _ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        parsed = parse_path(self._strip_protocol(path))
        infos: list[dict[str, Any]]
        if len(parsed.parts) < 3:
            infos = [{"name": name, "size": 0, "type": "directory"} for name in await self._aupper(parsed)]
        else:
            version = await self._aversion(parsed)
            tree = await self._atree(version, parsed.name)
            if tree.is_dir(parsed.inner):
                infos = tree.listing(self._prefix(parsed), parsed.inner)
            else:
                info = tree.info(self._prefix(parsed), parsed.inner)
                if info is None:
                    raise FileNotFoundError(errno.ENOENT, f"no such path in {version.key}", parsed.name)
                infos = [info]
        return infos if detail else [info["name"] for info in infos]

    async def _find(
        self, path: str, maxdepth: int | None = None, withdirs: bool = False, **kwargs: Any
    ) -> Any:
        parsed = parse_path(self._strip_protocol(path))
        detail = bool(kwargs.pop("detail", False))
        if len(parsed.parts) < 3:
            return await super()._find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail, **kwargs)
        version = await self._aversion(parsed)
        tree = await self._atree(version, parsed.name)
        return self._find_in(parsed, tree, maxdepth, withdirs, detail)

    async def _cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        parsed = parse_path(self._strip_protocol(path))
        if len(parsed.parts) < 4:
            await self._info(parsed.name)  # FileNotFoundError when it does not exist
            raise IsADirectoryError(errno.EISDIR, "a directory, not a file", parsed.name)
        version = await self._aversion(parsed)
        _, _, tree, info = self._file_in(parsed, version, await self._atree(version, parsed.name))
        first, stop = _bounds(int(info["size"]), start, end)
        if stop <= first:
            return b""
        return await self._aclient().read_range(
            f"{version.key}/{parsed.inner}", first, stop, entry=tree.entry(parsed.inner)
        )

    async def _pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> NoReturn:
        _read_only("write", path)

    async def _rm_file(self, path: str, **kwargs: Any) -> NoReturn:
        _read_only("delete", path)

    async def _rm(self, path: Any, recursive: bool = False, **kwargs: Any) -> NoReturn:
        _read_only("delete", path)

    async def _put_file(self, lpath: Any, rpath: str, **kwargs: Any) -> NoReturn:
        _read_only("write", rpath)

    async def _cp_file(self, path1: str, path2: str, **kwargs: Any) -> NoReturn:
        _read_only("copy to", path2)

    async def _mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> NoReturn:
        _read_only("create directory", path)

    async def _makedirs(self, path: str, exist_ok: bool = False) -> NoReturn:
        _read_only("create directory", path)

    # ------------------------------------------------------------------ writing: refused

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> NoReturn:
        """Refused: :class:`~gobbler_sdk.ReadOnlyError` (upload a new version instead)."""
        _read_only("create the directory", path)

    def makedirs(self, path: str, exist_ok: bool = False) -> NoReturn:
        """Refused: :class:`~gobbler_sdk.ReadOnlyError`."""
        _read_only("create the directories", path)

    def rmdir(self, path: str) -> NoReturn:
        """Refused: :class:`~gobbler_sdk.ReadOnlyError` (nothing is deleted)."""
        _read_only("remove the directory", path)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> NoReturn:
        """Refused: :class:`~gobbler_sdk.ReadOnlyError` (nothing is deleted)."""
        _read_only("remove", path)

    def rm_file(self, path: str) -> NoReturn:
        """Refused: :class:`~gobbler_sdk.ReadOnlyError` (nothing is deleted)."""
        _read_only("remove", path)

    def put_file(self, lpath: Any, rpath: str, callback: Any = DEFAULT_CALLBACK, **kwargs: Any) -> NoReturn:
        """Refused: :class:`~gobbler_sdk.ReadOnlyError` (upload a new version with ``Asset.upload``)."""
        _read_only("write", rpath)

    def put(self, lpath: Any, rpath: Any, recursive: bool = False, **kwargs: Any) -> NoReturn:
        """Refused: :class:`~gobbler_sdk.ReadOnlyError` (upload a new version with ``Asset.upload``)."""
        _read_only("write", rpath)

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> NoReturn:
        """Refused: :class:`~gobbler_sdk.ReadOnlyError`."""
        _read_only("write", path)

    def touch(self, path: str, truncate: bool = True, **kwargs: Any) -> NoReturn:
        """Refused: :class:`~gobbler_sdk.ReadOnlyError`."""
        _read_only("touch", path)

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> NoReturn:
        """Refused: :class:`~gobbler_sdk.ReadOnlyError` (a copy would write into the registry)."""
        _read_only("copy into", path2)

    def copy(self, path1: Any, path2: Any, recursive: bool = False, **kwargs: Any) -> NoReturn:
        """Refused: :class:`~gobbler_sdk.ReadOnlyError` (a copy would write into the registry)."""
        _read_only("copy into", path2)

    def mv(
        self, path1: Any, path2: Any, recursive: bool = False, maxdepth: int | None = None, **kwargs: Any
    ) -> NoReturn:
        """Refused: :class:`~gobbler_sdk.ReadOnlyError` (nothing is moved or deleted)."""
        _read_only("move", path1)
