"""The comparison of two versions for the compare page: the SDK's diff, as rows by path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ..comparison import diff_manifests

if TYPE_CHECKING:
    from .. import Manifest

__all__ = ["Change", "Comparison", "compare_manifests"]


@dataclass(frozen=True)
class Change:
    """One path that differs between the two versions.

    Attributes:
        kind: ``"added"``, ``"removed"``, ``"changed"`` (same path, other content) or ``"renamed"``
            (the same content under another path, paired one to one).
        old_path: The path in the first version (``None`` when added).
        new_path: The path in the second version (``None`` when removed).
        old_size: Its size in the first version.
        new_size: Its size in the second version.
        directory: Whether the path is an empty directory (in the version that has it).
    """

    kind: Literal["added", "removed", "changed", "renamed"]
    old_path: str | None
    new_path: str | None
    old_size: int | None = None
    new_size: int | None = None
    directory: bool = False


@dataclass
class Comparison:
    """Every difference between two manifests, and how many paths are the same.

    Attributes:
        changes: Changes ordered by path.
        unchanged: Paths with the same content in both.
    """

    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0

    def count(self, kind: str) -> int:
        """How many changes are of ``kind``."""
        return sum(1 for change in self.changes if change.kind == kind)


def compare_manifests(old: Manifest, new: Manifest) -> Comparison:
    """The SDK's diff of two manifests (:func:`gobbler_sdk.comparison.diff_manifests`), as rows for the page.

    Changes are ordered by path (a rename by its new path); empty directories added or removed are rows of
    their own.
    """
    diff = diff_manifests(new, old)
    rows: list[tuple[str, Change]] = []
    for path in diff.added:
        rows.append((path, Change("added", None, path, None, new[path].size)))
    for path in diff.removed:
        rows.append((path, Change("removed", path, None, old[path].size, None)))
    for path in diff.changed:
        rows.append((path, Change("changed", path, path, old[path].size, new[path].size)))
    for before, after in diff.renamed:
        rows.append((after, Change("renamed", before, after, old[before].size, new[after].size)))
    for path in diff.directories_added:
        rows.append((path, Change("added", None, path, None, 0, directory=True)))
    for path in diff.directories_removed:
        rows.append((path, Change("removed", path, None, 0, None, directory=True)))
    rows.sort(key=lambda row: row[0])
    return Comparison([change for _, change in rows], len(diff.unchanged))
