"""Inspecting and cleaning the download cache: :class:`CacheManager` (``client.cache``).

The cache holds one directory per version (``<cache>/REGISTRY/<project>/<asset>/<version>``). A scan
reports each version's files, bytes, last access and whether it is complete (its manifest is cached and
every file of the manifest is there with its recorded size); a verification hashes every cached file
against the cached manifest; a prune removes versions not used for a while, or the least recently used
ones beyond a size budget, and the temporary files that killed downloads left behind; a removal takes a
project, asset, version or file away.

Everything is reached through directory descriptors without following symlinks, so a symlink planted in
a shared cache never leads a scan, a verification or a removal outside it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ._cache import (
    STALE_AFTER,
    Cache,
    is_temporary,
    md5_of_fd,
    open_directory_nofollow,
    sweep_stale_temporary,
)
from ._pathsafety import checked_relative
from ._staging import ABANDONED_AFTER, sweep_abandoned
from .errors import GobblerError, InvalidRequestError
from .models import Manifest

__all__ = ["CacheManager", "CacheReport", "CachedVersion", "CorruptFile", "PruneReport"]

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


@dataclass(frozen=True)
class CachedVersion:
    """One version as found in the cache.

    Attributes:
        project: Project name.
        asset: Asset name.
        version: Version name.
        path: The version's directory in the cache.
        files: Regular files cached for it (internal ``..`` files included, temporary files not).
        size: Their bytes.
        complete: Its manifest is cached and every file of the manifest is cached with its recorded size
            (so it can be read offline; :meth:`CacheManager.verify` checks the MD5s too).
        last_access: The latest access or modification time of any of its files (UTC); reading a file
            through the SDK, or directly, counts as an access (where the filesystem records it).
    """

    project: str
    asset: str
    version: str
    path: Path
    files: int
    size: int
    complete: bool
    last_access: datetime

    @property
    def key(self) -> str:
        """``project/asset/version``."""
        return f"{self.project}/{self.asset}/{self.version}"

    def __repr__(self) -> str:
        state = "complete" if self.complete else "partial"
        when = self.last_access.strftime("%Y-%m-%d %H:%M")
        return f"CachedVersion({self.key!r}, {self.files} files, {_human(self.size)}, {state}, used {when})"


@dataclass(frozen=True)
class CacheReport:
    """What :meth:`CacheManager.scan` found.

    Attributes:
        root: The cache directory.
        versions: Every cached version, sorted by key.
    """

    root: Path
    versions: list[CachedVersion] = field(default_factory=list)

    @property
    def total_size(self) -> int:
        """Bytes of every cached version."""
        return sum(v.size for v in self.versions)

    @property
    def total_files(self) -> int:
        """Files of every cached version."""
        return sum(v.files for v in self.versions)

    def __repr__(self) -> str:
        return (
            f"CacheReport({len(self.versions)} versions, {self.total_files} files, {_human(self.total_size)})"
        )

    def __str__(self) -> str:
        lines = [f"{'VERSION':<40} {'FILES':>6} {'SIZE':>10}  {'STATE':<8} LAST ACCESS"]
        for v in self.versions:
            state = "complete" if v.complete else "partial"
            when = v.last_access.strftime("%Y-%m-%d %H:%M")
            lines.append(f"{v.key:<40} {v.files:>6} {_human(v.size):>10}  {state:<8} {when}")
        lines.append(
            f"{len(self.versions)} versions, {self.total_files} files, {_human(self.total_size)}"
            f" in {self.root}"
        )
        return "\n".join(lines)


@dataclass(frozen=True)
class CorruptFile:
    """A cached file that does not match the cached manifest.

    Attributes:
        path: Registry-relative path (``project/asset/version/file``).
        reason: What is wrong with it.
    """

    path: str
    reason: str

    def __repr__(self) -> str:
        return f"CorruptFile({self.path!r}: {self.reason})"


@dataclass(frozen=True)
class PruneReport:
    """What :meth:`CacheManager.prune` removed.

    Attributes:
        versions: The versions removed (as they were before removal).
        files: Files removed (temporary files included).
        freed: Bytes freed.
        temporary_files: Stale temporary files removed (left by killed downloads).
        staging_entries: Abandoned upload copies and request files of this user removed from the
            client's staging directory (left by killed uploads; 0 when the client knows no staging).
    """

    versions: list[CachedVersion]
    files: int
    freed: int
    temporary_files: int
    staging_entries: int = 0

    def __repr__(self) -> str:
        return (
            f"PruneReport({len(self.versions)} versions, {self.files} files, {_human(self.freed)} freed,"
            f" {self.temporary_files} temporary files, {self.staging_entries} staging entries)"
        )


@dataclass
class _Tally:
    files: int = 0
    size: int = 0


def _version_files(fd: int) -> Iterator[tuple[str, os.stat_result, int]]:
    """``(relative path, lstat, directory fd)`` below a version directory, no symlink followed."""
    for dirpath, dirnames, filenames, dirfd in os.fwalk(".", dir_fd=fd):
        prefix = "" if dirpath == "." else dirpath[2:] + "/"
        for name in filenames + dirnames:
            try:
                info = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            except OSError:
                continue
            yield prefix + name, info, dirfd


def _remove_below(parent: int, name: str, tally: _Tally) -> None:
    """Remove ``name`` (a file, symlink or whole directory) from ``parent`` without following symlinks."""
    info = os.stat(name, dir_fd=parent, follow_symlinks=False)
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(name, dir_fd=parent)
        tally.files += 1
        tally.size += info.st_size if stat.S_ISREG(info.st_mode) else 0
        return
    fd = os.open(name, _DIRECTORY, dir_fd=parent)
    try:
        for _, dirnames, filenames, dirfd in os.fwalk(".", dir_fd=fd, topdown=False):
            for entry in filenames + dirnames:
                entry_info = os.stat(entry, dir_fd=dirfd, follow_symlinks=False)
                if stat.S_ISDIR(entry_info.st_mode):
                    os.rmdir(entry, dir_fd=dirfd)
                else:
                    os.unlink(entry, dir_fd=dirfd)
                    tally.files += 1
                    tally.size += entry_info.st_size if stat.S_ISREG(entry_info.st_mode) else 0
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent)


def _subdirectories(fd: int) -> list[str]:
    with os.scandir(fd) as entries:
        return sorted(
            e.name for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith("..")
        )


class CacheManager:
    """Inspect and clean a client's download cache (``client.cache``).

    Args:
        cache: The client's cache.
        staging: The client's staging directory, when it is known without asking the service: prune then
            also sweeps this user's abandoned upload copies from it.
    """

    def __init__(self, cache: Cache, staging: Path | None = None) -> None:
        self._cache = cache
        self._staging = staging

    @property
    def root(self) -> Path:
        """The cache directory."""
        return self._cache.root

    def __repr__(self) -> str:
        return f"CacheManager({str(self.root)!r})"

    # ------------------------------------------------------------------ walking

    def _base(self) -> int | None:
        try:
            return self._cache.dir_fd("", create=False)
        except (OSError, GobblerError):
            return None

    def _versions(
        self, project: str | None, asset: str | None, version: str | None
    ) -> Iterator[tuple[str, str, str, int]]:
        """``(project, asset, version, version fd)`` in scope; each fd is closed as the iteration moves on."""
        base = self._base()
        if base is None:
            return
        try:
            for p in _subdirectories(base):
                if project is not None and p != project:
                    continue
                pfd = os.open(p, _DIRECTORY, dir_fd=base)
                try:
                    for a in _subdirectories(pfd):
                        if asset is not None and a != asset:
                            continue
                        afd = os.open(a, _DIRECTORY, dir_fd=pfd)
                        try:
                            for v in _subdirectories(afd):
                                if version is not None and v != version:
                                    continue
                                vfd = os.open(v, _DIRECTORY, dir_fd=afd)
                                try:
                                    yield p, a, v, vfd
                                finally:
                                    os.close(vfd)
                        finally:
                            os.close(afd)
                finally:
                    os.close(pfd)
        finally:
            os.close(base)

    def _describe(self, project: str, asset: str, version: str, fd: int) -> CachedVersion:
        # Only files' times count: listing a directory (as this scan does) updates its own access time.
        latest = os.fstat(fd).st_mtime
        sizes: dict[str, int] = {}
        for relative, entry, _ in _version_files(fd):
            if stat.S_ISREG(entry.st_mode) and not is_temporary(os.path.basename(relative)):
                sizes[relative] = entry.st_size
                latest = max(latest if len(sizes) > 1 else 0.0, entry.st_atime, entry.st_mtime)
        manifest = _cached_manifest(fd)
        complete = manifest is not None and all(
            sizes.get(path) == entry.size for path, entry in manifest.items() if not entry.is_directory
        )
        return CachedVersion(
            project=project,
            asset=asset,
            version=version,
            path=self._cache.registry_root / project / asset / version,
            files=len(sizes),
            size=sum(sizes.values()),
            complete=complete,
            last_access=datetime.fromtimestamp(latest, tz=timezone.utc),
        )

    # ------------------------------------------------------------------ public operations

    def scan(self) -> CacheReport:
        """Every cached version with its files, bytes, completeness and last access.

        Returns:
            The report, versions sorted by ``project/asset/version``.
        """
        found = [self._describe(p, a, v, fd) for p, a, v, fd in self._versions(None, None, None)]
        return CacheReport(self.root, sorted(found, key=lambda v: v.key))

    def verify(
        self,
        *,
        delete: bool = False,
        project: str | None = None,
        asset: str | None = None,
        version: str | None = None,
    ) -> list[CorruptFile]:
        """Hash every cached file against its version's cached manifest.

        Versions whose manifest is not cached have nothing to be checked against and are skipped.

        Args:
            delete: Remove the corrupt files (a later read downloads them again).
            project: Only this project.
            asset: Only this asset.
            version: Only this version.

        Returns:
            The corrupt files (an unparsable cached manifest counts as one), sorted by path.
        """
        corrupt: list[CorruptFile] = []
        for p, a, v, fd in self._versions(project, asset, version):
            key = f"{p}/{a}/{v}"
            try:
                manifest = _cached_manifest(fd, strict=True)
            except ValueError:
                corrupt.append(CorruptFile(f"{key}/..manifest", "the cached manifest cannot be parsed"))
                if delete:
                    os.unlink("..manifest", dir_fd=fd)
                continue
            if manifest is None:
                continue
            for relative, info, dirfd in _version_files(fd):
                name = os.path.basename(relative)
                if (
                    stat.S_ISDIR(info.st_mode)
                    or is_temporary(name)
                    or relative.split("/")[0].startswith("..")
                ):
                    continue
                reason = _problem(manifest, relative, info, name, dirfd)
                if reason is not None:
                    corrupt.append(CorruptFile(f"{key}/{relative}", reason))
                    if delete:
                        os.unlink(name, dir_fd=dirfd)
        if delete and corrupt:
            self._cache.forget()
        return sorted(corrupt, key=lambda c: c.path)

    def prune(
        self,
        *,
        older_than: float | timedelta | None = None,
        max_size: int | None = None,
        project: str | None = None,
        asset: str | None = None,
        version: str | None = None,
    ) -> PruneReport:
        """Remove versions not used for a while and/or beyond a size budget, and stale temporary files.

        With neither ``older_than`` nor ``max_size``, only the stale temporary files go: to remove whole
        projects, assets or versions regardless of use, call :meth:`remove`.

        Args:
            older_than: Remove versions whose last access is older than this (a number means days).
            max_size: Then remove the least recently used versions until the rest hold at most this many
                bytes.
            project: Only versions of this project (and the budget counts only these).
            asset: Only versions of this asset.
            version: Only versions of this name.

        Returns:
            What was removed. Temporary files of this user older than a day (left by killed downloads) are
            always removed, from the whole cache, and so are this user's upload copies and request files
            abandoned in staging by killed uploads (older than a day, locked by no process).
        """
        if isinstance(older_than, (int, float)) and not isinstance(older_than, bool):
            older_than = timedelta(days=older_than)
        if older_than is not None and not isinstance(older_than, timedelta):
            raise InvalidRequestError(
                f"older_than must be a number of days or a timedelta, not {older_than!r}"
            )
        if max_size is not None and (
            isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 0
        ):
            raise InvalidRequestError(f"max_size must be a number of bytes >= 0, not {max_size!r}")
        temporary = self._sweep()
        tally = _Tally(temporary[0], temporary[1])
        removed: list[CachedVersion] = []
        if older_than is not None or max_size is not None:
            report = [self._describe(p, a, v, fd) for p, a, v, fd in self._versions(project, asset, version)]
            victims: list[CachedVersion] = []
            if older_than is not None:
                limit = datetime.now(timezone.utc) - older_than
                victims = [v for v in report if v.last_access < limit]
            if max_size is not None:
                kept = sorted((v for v in report if v not in victims), key=lambda v: v.last_access)
                total = sum(v.size for v in kept)
                for each in kept:
                    if total <= max_size:
                        break
                    victims.append(each)
                    total -= each.size
            for each in victims:
                if self._remove_parts([each.project, each.asset, each.version], tally):
                    removed.append(each)
        swept = 0 if self._staging is None else sweep_abandoned(self._staging, older_than=ABANDONED_AFTER)
        return PruneReport(removed, tally.files, tally.size, temporary[0], swept)

    def remove(self, path: str) -> int:
        """Remove a project, asset, version or file from the cache.

        Args:
            path: ``project[/asset[/version[/file]]]``.

        Returns:
            The bytes freed (0 when nothing was cached there).

        Raises:
            UnsafePathError: When ``path`` is absolute or climbs.
        """
        tally = _Tally()
        self._remove_parts(checked_relative(path.strip("/")).split("/"), tally)
        return tally.size

    # ------------------------------------------------------------------ helpers

    def _remove_parts(self, parts: list[str], tally: _Tally) -> bool:
        base = self._base()
        if base is None:
            return False
        try:
            try:
                parent = open_directory_nofollow(
                    base, parts[:-1], create=False, what="/".join(parts), where=str(self.root)
                )
            except (OSError, GobblerError):
                return False
            try:
                _remove_below(parent, parts[-1], tally)
            except FileNotFoundError:
                return False
            finally:
                os.close(parent)
            # Projects and assets left empty go too, so a scan shows nothing for them.
            for depth in range(min(len(parts), 3) - 1, 0, -1):
                try:
                    holder = open_directory_nofollow(
                        base, parts[: depth - 1], create=False, what="", where=""
                    )
                except (OSError, GobblerError):
                    break
                try:
                    os.rmdir(parts[depth - 1], dir_fd=holder)
                except OSError:
                    break
                finally:
                    os.close(holder)
            return True
        finally:
            os.close(base)
            self._cache.forget()

    def _sweep(self) -> tuple[int, int]:
        base = self._base()
        if base is None:
            return 0, 0
        count = freed = 0
        try:
            for _, _, _, dirfd in os.fwalk(".", dir_fd=base):
                removed, size = sweep_stale_temporary(dirfd, STALE_AFTER)
                count, freed = count + removed, freed + size
        finally:
            os.close(base)
        return count, freed


def _open_quietly(name: str, dir_fd: int) -> int:
    """Open a cached file for reading, never through a symlink, and where allowed without an access time.

    A scan or a verification is no use of the file and must not make its version look recently used to a
    later prune.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        return os.open(name, flags | getattr(os, "O_NOATIME", 0), dir_fd=dir_fd)
    except PermissionError:  # O_NOATIME is only for the file's owner
        return os.open(name, flags, dir_fd=dir_fd)


def _cached_manifest(fd: int, *, strict: bool = False) -> Manifest | None:
    try:
        manifest_fd = _open_quietly("..manifest", fd)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(manifest_fd).st_mode):
            return None
        with os.fdopen(os.dup(manifest_fd), "rb") as handle:
            data = handle.read()
    finally:
        os.close(manifest_fd)
    try:
        return Manifest.from_json(data)
    except (ValueError, TypeError, KeyError):
        if strict:
            raise ValueError("unparsable manifest") from None
        return None


def _problem(manifest: Manifest, relative: str, info: os.stat_result, name: str, dirfd: int) -> str | None:
    entry = manifest.get(relative)
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (the cache never makes symlinks)"
    if entry is None:
        return "not in the cached manifest"
    if entry.is_directory:
        return "a file where the manifest has an empty directory"
    if info.st_size != entry.size:
        return f"{info.st_size} bytes, the manifest says {entry.size}"
    fd = _open_quietly(name, dirfd)
    try:
        found = md5_of_fd(fd)
    finally:
        os.close(fd)
    if found != entry.md5sum:
        return f"MD5 {found}, the manifest says {entry.md5sum}"
    return None
