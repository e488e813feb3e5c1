"""The comparison of two versions' manifests, path by path.

:func:`compare_manifests` is the one place the browser computes a diff; when the SDK grows its own
``Version.diff()``, this function is what to replace.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .. import ManifestEntry

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


def _content(entry: ManifestEntry) -> tuple[str, int]:
    return entry.md5sum, entry.size


def compare_manifests(old: Mapping[str, ManifestEntry], new: Mapping[str, ManifestEntry]) -> Comparison:
    """Compare the manifests of two versions (path → entry, as ``dict(manifest.items())`` gives).

    A path in both with another MD5 or size is changed. A removed path and an added path with the same
    content are a rename when that content identifies exactly one removed and one added path (so a file
    copied twice is reported as added, not guessed at). Empty-directory entries take part like files.
    """
    before, after = old, new
    result = Comparison()
    removed = [path for path in before if path not in after]
    added = [path for path in after if path not in before]
    for path in before:
        if path in after:
            if _content(before[path]) != _content(after[path]):
                # A file that became an empty directory (or back) is a change too; it links to neither.
                directory = before[path].is_directory or after[path].is_directory
                result.changes.append(
                    Change("changed", path, path, before[path].size, after[path].size, directory)
                )
            else:
                result.unchanged += 1
    gone: defaultdict[tuple[str, int], list[str]] = defaultdict(list)
    came: defaultdict[tuple[str, int], list[str]] = defaultdict(list)
    for path in removed:
        gone[_content(before[path])].append(path)
    for path in added:
        came[_content(after[path])].append(path)
    renamed: set[str] = set()
    for content, paths in gone.items():
        targets = came.get(content, [])
        if len(paths) == 1 and len(targets) == 1 and content[0] != "":
            source, target = paths[0], targets[0]
            size = before[source].size
            result.changes.append(Change("renamed", source, target, size, size))
            renamed.update((source, target))
    result.changes += [
        Change("removed", path, None, before[path].size, None, before[path].is_directory)
        for path in removed
        if path not in renamed
    ]
    result.changes += [
        Change("added", None, path, None, after[path].size, after[path].is_directory)
        for path in added
        if path not in renamed
    ]
    result.changes.sort(key=lambda change: change.new_path or change.old_path or "")
    return result
