"""Keeping a local mirror of an asset's latest version up to date (in docs/comparing.md, tested here)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from gobbler_sdk import Asset, ChangeEvent, Version
from gobbler_sdk.changes import follow_changes


def refresh_mirror(asset: Asset, mirror: Path) -> Version | None:
    """Make ``mirror`` hold exactly the asset's latest version; return that version (None: there is none)."""
    latest = asset.latest()
    if latest is None:
        shutil.rmtree(mirror, ignore_errors=True)
        return None
    if mirror.is_dir() and latest.verify(mirror).ok:
        return latest  # already the latest version, byte for byte
    # Download next to the mirror, then swap, so readers never see a half-written copy.
    fresh = mirror.with_name(mirror.name + ".new")
    retired = mirror.with_name(mirror.name + ".old")
    shutil.rmtree(fresh, ignore_errors=True)
    latest.fetch_directory(local_dir=fresh)
    if mirror.exists():
        mirror.rename(retired)
    fresh.rename(mirror)
    shutil.rmtree(retired, ignore_errors=True)
    return latest


def concerns(event: ChangeEvent, asset: Asset) -> bool:
    """Whether ``event`` may change which version is the asset's latest, or its files."""
    project, name = asset.key.split("/")
    return event.project == project and event.asset in (name, None)


def keep_mirrored(asset: Asset, mirror: Path, *, interval: float = 60.0) -> Iterator[Version | None]:
    """Refresh ``mirror`` now, then after every change of the asset; yield the version mirrored each time."""
    since = datetime.now(timezone.utc)
    yield refresh_mirror(asset, mirror)
    for event in follow_changes(asset.client, since, interval=interval):
        if concerns(event, asset):
            yield refresh_mirror(asset, mirror)
