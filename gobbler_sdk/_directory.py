"""Downloading a registry directory into the cache, and materialising it in a directory of the caller's.

The directory is listed once (recursively, or from a cached manifest when the service is not asked); the
whole listing is checked before anything is written (every path storable, no path both a file and a
directory); each file's manifest entry is looked up so its bytes can be verified; files whose manifest
entries link to the same final target share one download, and the other names get a hard link (or a
copy) of the verified bytes inside the cache; empty directories are created. The downloads go through
:meth:`RemoteTransport.fetch_many`, so every file lands atomically and verified.

``local_dir`` copies the selected files out of the cache (or out of a mounted registry) into a directory
of the caller's: a copy-on-write clone where the filesystem supports it, else a real copy, never a link
into the cache, which a prune may delete and which an edit of the copy would silently change.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from ._atomic import temp_name
from ._cache import TEMP_PREFIX, Cache, md5_of_fd, open_directory_nofollow, storage_error
from ._filecopy import copy_descriptor
from ._globs import PathFilter
from ._pathsafety import checked_relative
from ._progress import ProgressCallback, TqdmClass, Tracker
from .errors import IntegrityError, NotCachedError, NotFoundError, UnsafePathError
from .models import ManifestEntry
from .transports.remote import RemoteTransport

__all__ = ["check_listing", "copy_into", "download_directory", "is_internal"]

# A group: every registry path whose bytes are those of one final file, with their manifest entries.
_Group = list[tuple[str, "ManifestEntry | None"]]


def is_internal(relative: str) -> bool:
    """Whether a path names one of the registry's own ``..`` files (or lies below a ``..`` directory)."""
    return any(part.startswith("..") for part in relative.split("/"))


def check_listing(listing: list[str], where: str) -> None:
    """Refuse a listing that the cache could not hold, before anything is downloaded.

    Raises:
        UnsafePathError: For an unsafe or over-long path, or a path that is both a file and a directory.
    """
    files: set[str] = set()
    directories: set[str] = set()
    for item in listing:
        path = item.rstrip("/")
        checked_relative(path)
        if any(len(os.fsencode(part)) > 255 for part in path.split("/")):
            raise UnsafePathError(f"{where}: refusing {path!r}: a name longer than 255 bytes")
        (directories if item.endswith("/") else files).add(path)
        parts = path.split("/")
        directories.update("/".join(parts[:cut]) for cut in range(1, len(parts)))
    clash = sorted(files & directories)
    if clash:
        raise UnsafePathError(f"{where}: {clash[0]!r} is listed both as a file and as a directory")


def download_directory(
    remote: RemoteTransport,
    cache: Cache,
    relative: str,
    entry_for: Callable[[str], ManifestEntry | None],
    *,
    overwrite: bool,
    concurrency: int,
    progress: bool | ProgressCallback | None,
    tqdm_class: TqdmClass | None = None,
    select: PathFilter | None = None,
    listing: list[str] | None = None,
    cache_only: bool = False,
    grow_to: int | None = None,
    verify: bool = True,
    received: Mapping[str, bytes] | None = None,
) -> list[tuple[str, str, ManifestEntry | None]]:
    """Mirror the registry directory ``relative`` into ``cache``.

    Args:
        remote: Transport that lists and downloads.
        cache: The cache to fill.
        relative: Registry-relative directory.
        entry_for: Manifest entry of a registry path (``None`` for internal files).
        overwrite: Download again even what is cached and verified.
        concurrency: Parallel downloads (at first, when ``grow_to`` is given).
        progress: A progress setting (see :class:`Tracker`).
        tqdm_class: Draw the bar with this ``tqdm`` class.
        select: Keeps the paths (relative to ``relative``) to fetch; internal ``..`` files are always kept.
        listing: The recursive listing when already known (from a cached manifest).
        cache_only: Download nothing: everything selected must already be cached and valid.
        grow_to: Let the number of downloads in flight grow up to this while throughput rises.
        verify: Hash downloads and cached copies against their entries; without it, a cached copy counts
            as valid as it is and downloads are not hashed (the entries still group linked files).
        received: Internal files already read from the service by this operation (by ``entry_for``, a
            version's manifest and summary), by registry path: they are stored as received, not
            downloaded again.

    Returns:
        The selected user files and empty directories (directories with a trailing ``/``) as
        ``(path below relative, registry path, manifest entry)``.

    Raises:
        NotFoundError: When the directory does not exist.
        NotCachedError: With ``cache_only``, when something selected is not cached.
    """
    if listing is None:
        listing = remote.list(relative, recursive=True)
        if not listing:
            # The service lists a regular file as an empty directory: its parent's listing tells them apart.
            parent, _, name = relative.rpartition("/")
            if f"{name}/" not in remote.list(parent):
                raise NotFoundError(f"no directory at {relative!r} in the registry")
    check_listing(listing, f"fetch {relative}")
    chosen = [item for item in listing if is_internal(item) or select is None or select(item)]
    cache.directory_for(relative)
    selected: list[tuple[str, str, ManifestEntry | None]] = []
    groups: dict[str, _Group] = {}
    for item in chosen:
        full = f"{relative}/{item.rstrip('/')}"
        if item.endswith("/"):
            cache.directory_for(full)
            selected.append((item, full, None))
            continue
        entry = entry_for(full)
        if not is_internal(item):
            selected.append((item, full, entry))
        source = entry.link.final.registry_path if entry is not None and entry.link is not None else full
        groups.setdefault(source, []).append((full, entry))

    jobs = list(groups.values())
    sizes = [members[0][1].size if members[0][1] else 0 for members in jobs]
    with Tracker(
        progress, "download", len(jobs), sum(sizes), tqdm_class=tqdm_class, label=relative
    ) as tracker:
        # Each group's bytes come from a verified cached member when there is one, else from one download.
        holders: list[str] = []
        downloads: list[tuple[str, ManifestEntry | None]] = []
        for members in jobs:
            first, entry = members[0]
            holder = None
            if (not overwrite or cache_only) and (entry is not None or cache_only):
                holder = next((p for p, e in members if cache.valid(p, e if verify else None)), None)
            if holder is None:
                holder = first
                downloads.append((first, entry))
            else:
                tracker.advance(first, entry.size if entry else 0)
            holders.append(holder)
        if cache_only and downloads:
            missing = [path for path, _ in downloads]
            raise NotCachedError(
                f"{relative} is not completely cached: {len(missing)} file(s) missing or invalid,"
                f" such as {missing[0]!r}"
            )
        # The internal files' sizes are not in the total (no manifest entry), so their bytes are not counted.
        internal = []
        for path, entry in downloads:
            if entry is not None:
                continue
            if received is not None and path in received:
                # The very bytes whose entries the files are verified against, stored atomically as a
                # download would be: asking again would only cost a round trip before the files.
                cache.write_bytes(path, received[path])
                tracker.advance(path, 0)
            else:
                internal.append((path, entry))
        if internal:
            remote.fetch_many(internal, concurrency=concurrency, on_done=tracker.advance)
        remote.fetch_many(
            [item for item in downloads if item[1] is not None],
            concurrency=concurrency,
            verify=verify,
            on_done=tracker.streamed,
            on_bytes=tracker.on_bytes,
            grow_to=grow_to,
        )

    for members, holder in zip(jobs, holders, strict=True):
        for other, other_entry in members:
            if other == holder or (not overwrite and cache.valid(other, other_entry if verify else None)):
                continue
            cache.copy_within(holder, other)
    if downloads:
        # A client killed mid-download leaves its temporary file; the next download of the same directory
        # takes it away once it is old enough not to belong to a download still running.
        cache.sweep_temporary({os.path.dirname(path) for path, _ in downloads})
    return selected


def copy_into(
    local_dir: Path,
    items: list[tuple[str, str, ManifestEntry | None]],
    open_source: Callable[[str], int],
    *,
    overwrite: bool,
    check_md5: bool,
    verify: bool = True,
) -> Path:
    """Place a copy of every item in ``local_dir`` (created if needed); return ``local_dir``.

    Args:
        local_dir: The caller's directory.
        items: ``(path below local_dir, registry path, entry)``, directories with a trailing ``/``.
        open_source: A read-only descriptor of a registry path's verified bytes.
        overwrite: Copy again even files that already match their entries.
        check_md5: Hash each copy against its entry (when the source was not just verified).
        verify: Hash a file already in ``local_dir`` before keeping it; without it, its size decides.

    Raises:
        IntegrityError: When a copy does not match its manifest entry (it is removed).
        UnsafePathError: When a symlink or a file is in the way in ``local_dir``.
    """
    where = str(local_dir)
    try:
        local_dir.mkdir(parents=True, exist_ok=True)
        root = os.open(local_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise storage_error(exc, f"copy into {local_dir}", where) from exc
    try:
        for path, registry_path, entry in items:
            parts = path.rstrip("/").split("/")
            if path.endswith("/"):
                os.close(open_directory_nofollow(root, parts, create=True, what=path, where=where))
                continue
            directory = open_directory_nofollow(root, parts[:-1], create=True, what=path, where=where)
            try:
                _copy_one(
                    directory, parts[-1], registry_path, entry, open_source, overwrite, check_md5, verify
                )
            finally:
                os.close(directory)
    finally:
        os.close(root)
    return local_dir


def _matches(fd: int, entry: ManifestEntry | None, md5: bool) -> bool:
    return (
        entry is not None
        and os.fstat(fd).st_size == entry.size
        and (not md5 or md5_of_fd(fd) == entry.md5sum)
    )


def _copy_one(
    directory: int,
    name: str,
    registry_path: str,
    entry: ManifestEntry | None,
    open_source: Callable[[str], int],
    overwrite: bool,
    check_md5: bool,
    verify: bool,
) -> None:
    if not overwrite:
        with contextlib.suppress(OSError):
            existing = os.open(
                name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=directory
            )
            try:
                if _matches(existing, entry, verify):
                    return
            finally:
                os.close(existing)
    source = open_source(registry_path)
    temporary = os.path.basename(temp_name("", TEMP_PREFIX, ".part"))
    try:
        target = os.open(
            temporary,
            os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o666,
            dir_fd=directory,
        )
        try:
            copy_descriptor(source, target, os.fstat(source).st_size)
            if entry is not None and (
                os.fstat(target).st_size != entry.size or (check_md5 and md5_of_fd(target) != entry.md5sum)
            ):
                raise IntegrityError(f"copy of {registry_path}: the bytes do not match the manifest")
        finally:
            os.close(target)
        os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
    except OSError as exc:
        raise storage_error(exc, f"copy {registry_path}", name) from exc
    finally:
        os.close(source)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=directory)
