"""Downloading a registry directory into the cache.

The directory is listed once (recursively); each file's manifest entry is looked up so its bytes can be
verified; files whose manifest entries link to the same final target share one download, and the other
names get a hard link (or a copy) of the verified bytes; empty directories are created. The downloads go
through :meth:`RemoteTransport.fetch_many`, so every file lands atomically and verified.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from ._atomic import temp_name
from ._cache import Cache
from ._progress import ProgressCallback, Tracker
from .errors import NotFoundError
from .models import ManifestEntry
from .transports.remote import RemoteTransport

__all__ = ["download_directory"]

# A group: every registry path whose bytes are those of one final file, with their manifest entries.
_Group = list[tuple[str, "ManifestEntry | None"]]


def download_directory(
    remote: RemoteTransport,
    cache: Cache,
    relative: str,
    entry_for: Callable[[str], ManifestEntry | None],
    *,
    overwrite: bool,
    concurrency: int,
    progress: bool | ProgressCallback | None,
    grow_to: int | None = None,
) -> Path:
    """Mirror the registry directory ``relative`` into ``cache``; return the local directory.

    Args:
        remote: Transport that lists and downloads.
        cache: The cache to fill.
        relative: Registry-relative directory.
        entry_for: Manifest entry of a registry path (``None`` for internal files).
        overwrite: Download again even what is cached and verified.
        concurrency: Parallel downloads (at first, when ``grow_to`` is given).
        grow_to: Let the number of downloads in flight grow up to this while throughput rises.
        progress: ``True`` for a terminal bar, or a callable receiving progress events.

    Raises:
        NotFoundError: When the directory does not exist.
    """
    listing = remote.list(relative, recursive=True)
    if not listing:
        # The service lists a regular file as an empty directory: its parent's listing tells them apart.
        parent, _, name = relative.rpartition("/")
        if f"{name}/" not in remote.list(parent):
            raise NotFoundError(f"no directory at {relative!r} in the registry")
    root = cache.directory_for(relative)
    groups: dict[str, _Group] = {}
    for item in listing:
        full = f"{relative}/{item.rstrip('/')}"
        if item.endswith("/"):
            cache.directory_for(full)
            continue
        entry = entry_for(full)
        source = entry.link.final.registry_path if entry is not None and entry.link is not None else full
        groups.setdefault(source, []).append((full, entry))

    jobs = list(groups.values())
    sizes = [members[0][1].size if members[0][1] else 0 for members in jobs]
    tracker = Tracker(progress, "download", len(jobs), sum(sizes))

    # Each group's bytes come from a verified cached member when there is one, else from one download.
    holders: list[str] = []
    downloads: list[tuple[str, ManifestEntry | None]] = []
    for members in jobs:
        first, entry = members[0]
        holder = None
        if not overwrite and entry is not None:
            holder = next((p for p, e in members if cache.is_valid(cache.path_for(p), e)), None)
        if holder is None:
            holder = first
            downloads.append((first, entry))
        else:
            tracker.advance(first, entry.size if entry else 0)
        holders.append(holder)
    remote.fetch_many(downloads, concurrency=concurrency, grow_to=grow_to, on_done=tracker.advance)

    for members, holder in zip(jobs, holders, strict=True):
        if len(members) == 1:
            continue
        local = cache.path_for(holder)
        for other, other_entry in members:
            if other == holder:
                continue
            target = cache.path_for(other)
            if not overwrite and cache.is_valid(target, other_entry):
                continue
            _link_or_copy(local, target)
    return root


def _link_or_copy(source: Path, target: Path) -> None:
    """Place a second copy of verified bytes: a hard link when possible, else a copy (atomically)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(temp_name(str(target.parent), ".gobbler-", ".link"))
    try:
        try:
            os.link(source, temporary)
        except OSError:
            shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    finally:
        # rename() does nothing when both names already link the same file (another filler got there
        # first), so the temporary name can survive a successful replace; it must never be left behind.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
