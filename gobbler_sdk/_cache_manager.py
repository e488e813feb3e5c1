"""Inspecting and cleaning the download cache: :class:`CacheManager` (``client.cache``).

The cache holds one directory per version (``<cache>/REGISTRY/<project>/<asset>/<version>``). A scan
reports each version's files, bytes, last access and whether it is complete (its manifest is cached and
every file of the manifest is there with its recorded size); a verification hashes every cached file
against the cached manifest; a prune removes versions not used for a while, or the least recently used
ones beyond a size budget, and the temporary files that killed downloads left behind; a removal takes a
project, asset, version or file away.

Everything is reached through directory descriptors without following symlinks, so a symlink planted in
a shared cache never leads a scan, a verification or a removal outside it. Walks and removals neither
recurse nor build long paths (:mod:`gobbler_sdk._treewalk`), so a cached tree thousands of levels deep is
handled like any other.

**Shared caches.** Entries this user cannot read, list or remove — another user's ``0600`` file in a
shared cache, say — are skipped, logged at WARNING and reported (``skipped`` of :class:`CacheReport`,
:class:`VerifyReport` and :class:`PruneReport`); :meth:`CacheManager.remove` removes what it can and then
raises :class:`~gobbler_sdk.errors.LocalPermissionError` naming what stayed. No operation lets a raw
:class:`PermissionError` out.
"""

from __future__ import annotations

import errno
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
from ._log import logger
from ._pathsafety import checked_relative
from ._staging import ABANDONED_AFTER, sweep_abandoned
from ._treewalk import StepKind, TreeChangedError, remove_tree, walk
from ._units import parse_size
from .errors import ConfigurationError, GobblerError, InvalidRequestError, error_from_oserror
from .models import Manifest
from .models import readable_size as _sized

__all__ = [
    "CacheManager",
    "CacheReport",
    "CachedVersion",
    "CorruptFile",
    "PruneReport",
    "SkippedEntry",
    "VerifyReport",
]

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


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
        return f"CachedVersion({self.key!r}, {self.files} files, {_sized(self.size)}, {state}, used {when})"


@dataclass(frozen=True)
class SkippedEntry:
    """Something in the cache this user could not read, list or remove, and that was therefore skipped.

    Attributes:
        path: Cache path (``project/asset/version/file``, or shorter).
        reason: Why, as the operating system said it.
    """

    path: str
    reason: str

    def __str__(self) -> str:
        # Quoted: a name with a newline or an escape sequence cannot forge a line of a report.
        return f"{self.path!r}: {self.reason}"


def _skipped(path: str, exc: OSError) -> SkippedEntry:
    return SkippedEntry(path, exc.strerror or str(exc))


def _log_skipped(what: str, skipped: list[SkippedEntry]) -> None:
    if skipped:
        shown = ", ".join(str(entry) for entry in skipped[:10])
        more = f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""
        logger.warning(
            "cache %s skipped %d entries this user cannot use: %s%s", what, len(skipped), shown, more
        )


@dataclass(frozen=True)
class CacheReport:
    """What :meth:`CacheManager.scan` found.

    Attributes:
        root: The cache directory.
        versions: Every cached version, sorted by key.
        skipped: What this user could not read or list (its versions are described without it).
    """

    root: Path
    versions: list[CachedVersion] = field(default_factory=list)
    skipped: list[SkippedEntry] = field(default_factory=list)

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
            f"CacheReport({len(self.versions)} versions, {self.total_files} files, {_sized(self.total_size)})"
        )

    def __str__(self) -> str:
        lines = [f"{'VERSION':<40} {'FILES':>6} {'SIZE':>10}  {'STATE':<8} LAST ACCESS"]
        for v in self.versions:
            state = "complete" if v.complete else "partial"
            when = v.last_access.strftime("%Y-%m-%d %H:%M")
            lines.append(f"{v.key:<40} {v.files:>6} {_sized(v.size):>10}  {state:<8} {when}")
        lines.append(
            f"{len(self.versions)} versions, {self.total_files} files, {_sized(self.total_size)}"
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


class VerifyReport(list[CorruptFile]):
    """What :meth:`CacheManager.verify` found: the corrupt files (it is their list), and what it skipped.

    Attributes:
        skipped: Files and directories this user could not read, so not verified.
    """

    def __init__(self, corrupt: list[CorruptFile], skipped: list[SkippedEntry]) -> None:
        super().__init__(corrupt)
        self.skipped = skipped


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
        skipped: What this user could not read, list or remove (a version with such entries is not
            counted as removed).
    """

    versions: list[CachedVersion]
    files: int
    freed: int
    temporary_files: int
    staging_entries: int = 0
    skipped: list[SkippedEntry] = field(default_factory=list)

    def __repr__(self) -> str:
        return (
            f"PruneReport({len(self.versions)} versions, {self.files} files, {_sized(self.freed)} freed,"
            f" {self.temporary_files} temporary files, {self.staging_entries} staging entries)"
        )


@dataclass
class _Tally:
    files: int = 0
    size: int = 0
    skipped: list[SkippedEntry] = field(default_factory=list)


def _version_files(
    fd: int, key: str, skipped: list[SkippedEntry]
) -> Iterator[tuple[str, os.stat_result, int]]:
    """``(relative path, lstat, directory fd)`` below a version directory, no symlink followed.

    Directories that cannot be listed are noted in ``skipped``; the directory descriptor is valid until the
    next item is asked for.
    """
    errors: list[tuple[str, OSError]] = []
    try:
        for step in walk(fd, errors=errors):
            if step.kind is StepKind.ENTRY:
                try:
                    info = step.info
                except FileNotFoundError:
                    continue  # removed since the listing
                except OSError as exc:
                    skipped.append(_skipped(f"{key}/{step.path}", exc))
                    continue
                yield step.path, info, step.dir_fd
    except TreeChangedError as exc:
        skipped.append(_skipped(f"{key}/{exc.filename}", exc))
    skipped.extend(_skipped(f"{key}/{path}", exc) for path, exc in errors)


def _remove_below(parent: int, name: str, where: str, tally: _Tally) -> bool:
    """Remove ``name`` (a file, symlink or whole tree) from ``parent``; note what stays; whether all went."""
    removal = remove_tree(parent, name)
    tally.files += removal.files
    tally.size += removal.size
    base = where.rpartition("/")[0]
    tally.skipped.extend(_skipped(f"{base}/{path}" if base else path, exc) for path, exc in removal.failures)
    return not removal.failures


def _subdirectories(fd: int) -> list[str]:
    with os.scandir(fd) as entries:
        return sorted(
            e.name for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith("..")
        )


def _readable(name: str, dir_fd: int) -> bool:
    return os.access(name, os.R_OK, dir_fd=dir_fd, effective_ids=os.access in os.supports_effective_ids)


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

    @staticmethod
    def parse_size(text: str) -> int:
        """A size as :meth:`prune` takes it: ``"42"`` bytes, ``"500M"`` (powers of 1000), ``"1.5GiB"``.

        Raises:
            InvalidRequestError: For anything else (it is also a ``ValueError``).
        """
        try:
            return parse_size(text)
        except ValueError as exc:
            raise InvalidRequestError(f"max_size: {exc}") from None

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
        self, project: str | None, asset: str | None, version: str | None, skipped: list[SkippedEntry]
    ) -> Iterator[tuple[str, str, str, int]]:
        """``(project, asset, version, version fd)`` in scope; each fd is closed as the iteration moves on.

        Directories this user cannot open or list are noted in ``skipped``.
        """
        base = self._base()
        if base is None:
            return
        try:
            yield from self._below(base, [], (project, asset, version), skipped)
        finally:
            os.close(base)

    def _below(
        self, fd: int, parts: list[str], scope: tuple[str | None, ...], skipped: list[SkippedEntry]
    ) -> Iterator[tuple[str, str, str, int]]:
        # Three levels (project, asset, version): a fixed depth, whatever is stored below.
        try:
            names = _subdirectories(fd)
        except OSError as exc:
            skipped.append(_skipped("/".join(parts) or ".", exc))
            return
        wanted = scope[len(parts)]
        for name in names:
            if wanted is not None and name != wanted:
                continue
            try:
                child = os.open(name, _DIRECTORY, dir_fd=fd)
            except FileNotFoundError:
                continue
            except OSError as exc:
                skipped.append(_skipped("/".join([*parts, name]), exc))
                continue
            try:
                if len(parts) == 2:
                    yield parts[0], parts[1], name, child
                else:
                    yield from self._below(child, [*parts, name], scope, skipped)
            finally:
                os.close(child)

    def _describe(
        self,
        project: str,
        asset: str,
        version: str,
        fd: int,
        skipped: list[SkippedEntry],
        *,
        readable: bool = True,
    ) -> CachedVersion:
        key = f"{project}/{asset}/{version}"
        # Only files' times count: listing a directory (as this scan does) updates its own access time.
        latest = os.fstat(fd).st_mtime
        sizes: dict[str, int] = {}
        for relative, entry, dirfd in _version_files(fd, key, skipped):
            name = os.path.basename(relative)
            if stat.S_ISREG(entry.st_mode) and not is_temporary(name):
                if readable and not _readable(name, dirfd):
                    skipped.append(SkippedEntry(f"{key}/{relative}", "Permission denied"))
                    continue
                sizes[relative] = entry.st_size
                latest = max(latest if len(sizes) > 1 else 0.0, entry.st_atime, entry.st_mtime)
        try:
            manifest = _cached_manifest(fd)
        except OSError as exc:
            skipped.append(_skipped(f"{key}/..manifest", exc))
            manifest = None
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
        skipped: list[SkippedEntry] = []
        found = [
            self._describe(p, a, v, fd, skipped) for p, a, v, fd in self._versions(None, None, None, skipped)
        ]
        _log_skipped("scan", skipped)
        return CacheReport(self.root, sorted(found, key=lambda v: v.key), skipped)

    def verify(
        self,
        *,
        delete: bool = False,
        project: str | None = None,
        asset: str | None = None,
        version: str | None = None,
    ) -> VerifyReport:
        """Hash every cached file against its version's cached manifest.

        Versions whose manifest is not cached have nothing to be checked against and are skipped, and so
        are files this user cannot read (listed in the report's ``skipped``).

        Args:
            delete: Remove the corrupt files (a later read downloads them again).
            project: Only this project.
            asset: Only this asset.
            version: Only this version.

        Returns:
            The corrupt files (an unparsable cached manifest counts as one), sorted by path; its
            ``skipped`` lists what could not be read (or, with ``delete``, removed).
        """
        corrupt: list[CorruptFile] = []
        skipped: list[SkippedEntry] = []

        def remove(name: str, dir_fd: int, path: str) -> None:
            try:
                os.unlink(name, dir_fd=dir_fd)
            except FileNotFoundError:
                pass
            except OSError as exc:
                skipped.append(_skipped(path, exc))

        for p, a, v, fd in self._versions(project, asset, version, skipped):
            key = f"{p}/{a}/{v}"
            try:
                manifest = _cached_manifest(fd, strict=True)
            except ValueError:
                corrupt.append(CorruptFile(f"{key}/..manifest", "the cached manifest cannot be parsed"))
                if delete:
                    remove("..manifest", fd, f"{key}/..manifest")
                continue
            except OSError as exc:
                skipped.append(_skipped(f"{key}/..manifest", exc))
                continue
            if manifest is None:
                continue
            for relative, info, dirfd in _version_files(fd, key, skipped):
                name = os.path.basename(relative)
                if (
                    stat.S_ISDIR(info.st_mode)
                    or is_temporary(name)
                    or any(part.startswith("..") for part in relative.split("/"))
                ):
                    continue
                try:
                    reason = _problem(manifest, relative, info, name, dirfd)
                except OSError as exc:
                    skipped.append(_skipped(f"{key}/{relative}", exc))
                    continue
                if reason is not None:
                    corrupt.append(CorruptFile(f"{key}/{relative}", reason))
                    if delete:
                        remove(name, dirfd, f"{key}/{relative}")
        if delete and corrupt:
            self._cache.forget()
        _log_skipped("verify", skipped)
        return VerifyReport(sorted(corrupt, key=lambda c: c.path), skipped)

    def prune(
        self,
        *,
        older_than: float | timedelta | None = None,
        max_size: int | str | None = None,
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
                bytes: a number, or a size with the command line's units (``"500M"``, ``"20GiB"``).
            project: Only versions of this project (and the budget counts only these).
            asset: Only versions of this asset.
            version: Only versions of this name.

        Returns:
            What was removed. Temporary files of this user older than a day (left by killed downloads) are
            always removed, from the whole cache, and so are this user's upload copies and request files
            abandoned in staging by killed uploads (older than a day, locked by no process). Entries this
            user cannot read, list or remove are skipped and listed in its ``skipped``.

        Raises:
            InvalidRequestError: For an ``older_than`` or ``max_size`` that is not one.
        """
        if isinstance(older_than, (int, float)) and not isinstance(older_than, bool):
            older_than = timedelta(days=older_than)
        if older_than is not None and not isinstance(older_than, timedelta):
            raise InvalidRequestError(
                f"older_than must be a number of days or a timedelta, not {older_than!r}"
            )
        if isinstance(max_size, str):
            max_size = self.parse_size(max_size)
        if max_size is not None and (
            isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 0
        ):
            raise InvalidRequestError(f"max_size must be a number of bytes >= 0, not {max_size!r}")
        tally = _Tally()
        temporary = self._sweep(tally.skipped)
        tally.files, tally.size = temporary
        removed: list[CachedVersion] = []
        if older_than is not None or max_size is not None:
            # Sizing only: every file takes space, readable or not; what cannot be removed is reported
            # by the removal below.
            sizing: list[SkippedEntry] = []
            report = [
                self._describe(p, a, v, fd, sizing, readable=False)
                for p, a, v, fd in self._versions(project, asset, version, sizing)
            ]
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
        skipped = list({entry.path: entry for entry in reversed(tally.skipped)}.values())[::-1]
        _log_skipped("prune", skipped)
        return PruneReport(removed, tally.files, tally.size, temporary[0], swept, skipped)

    def remove(self, path: str) -> int:
        """Remove a project, asset, version or file from the cache.

        Args:
            path: ``project[/asset[/version[/file]]]``.

        Returns:
            The bytes freed (0 when nothing was cached there).

        Raises:
            UnsafePathError: When ``path`` is absolute or climbs.
            LocalPermissionError: When entries this user may not remove (another user's, in a shared
                cache) stayed; everything else was removed. The message names them.
        """
        tally = _Tally()
        self._remove_parts(checked_relative(path.strip("/")).split("/"), tally)
        if tally.skipped:
            _log_skipped("remove", tally.skipped)
            shown = "; ".join(str(entry) for entry in tally.skipped[:10])
            more = f" and {len(tally.skipped) - 10} more" if len(tally.skipped) > 10 else ""
            failure = PermissionError(errno.EACCES, os.strerror(errno.EACCES))
            error = error_from_oserror(
                failure,
                f"cache remove {path}: {len(tally.skipped)} entries could not be removed and stay in the "
                f"cache ({shown}{more}); {tally.size} bytes were freed",
            )
            raise error
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
            except FileNotFoundError:
                return False
            except ConfigurationError as exc:
                # A directory on the way this user may not search (another user's, in a shared cache).
                tally.skipped.append(SkippedEntry("/".join(parts), str(exc).rpartition(": ")[2]))
                return False
            except (OSError, GobblerError):
                return False  # a symlink or a file in the way: nothing of the cache is there
            try:
                if not _remove_below(parent, parts[-1], "/".join(parts), tally):
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

    def _sweep(self, skipped: list[SkippedEntry]) -> tuple[int, int]:
        base = self._base()
        if base is None:
            return 0, 0
        count = freed = 0
        errors: list[tuple[str, OSError]] = []
        try:
            for step in walk(base, errors=errors):
                if step.kind is StepKind.ENTER:
                    try:
                        removed, size = sweep_stale_temporary(step.dir_fd, STALE_AFTER)
                    except OSError as exc:
                        errors.append((step.path or ".", exc))
                        continue
                    count, freed = count + removed, freed + size
        except TreeChangedError as exc:
            errors.append((str(exc.filename), exc))
        finally:
            os.close(base)
        skipped.extend(_skipped(path, exc) for path, exc in errors)
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
    """The version's cached manifest, ``None`` when there is none (or, unless strict, it is unparsable).

    Raises:
        OSError: When it is there but cannot be read (another user's, say).
    """
    try:
        manifest_fd = _open_quietly("..manifest", fd)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a symlink, which the cache never makes
            return None
        raise
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
