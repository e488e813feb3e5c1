"""Comparing what a validation walk observed with a version's stored records, as the reference service does.

Each check raises on the first discrepancy with a message keeping the reference's characteristic wording.
"""

from __future__ import annotations

from .documents import Link, Manifest
from .errors import RequestError
from .goerrors import go_quote

__all__ = ["check_linkfiles", "check_manifest", "link_difference"]

_FIELDS = ("project", "asset", "version", "path")


def link_difference(observed: Link | None, stored: Link | None) -> str | None:
    """Describe how a stored link differs from the observed one, or ``None`` when they are equal.

    The details always say "in manifest", also for ``..links`` entries, as the reference's do.

    Args:
        observed: Link derived from the files on disk.
        stored: Link recorded in the manifest or a ``..links`` file.
    """
    where = "manifest"
    if observed is None or stored is None:
        if observed is not None:
            return f"expected link in {where}"
        if stored is not None:
            return f"unexpected link in {where}"
        return None
    for key in _FIELDS:
        if observed.get(key, "") != stored.get(key, ""):
            return f"mismatching link {key} in {where}"
    observed_ancestor, stored_ancestor = observed.get("ancestor"), stored.get("ancestor")
    if observed_ancestor is None or stored_ancestor is None:
        if observed_ancestor is not None:
            return f"expected link ancestor in {where}"
        if stored_ancestor is not None:
            return f"unexpected link ancestor in {where}"
        return None
    for key in _FIELDS:
        if observed_ancestor.get(key, "") != stored_ancestor.get(key, ""):
            return f"mismatching link ancestor {key} in {where}"
    return None


def check_manifest(observed: Manifest, stored: Manifest, version_dir: str) -> None:
    """Every stored entry must be observed with equal size, MD5 and link, and nothing else observed.

    The messages name the version directory, as the reference's do.

    Raises:
        RequestError: 500 describing the first discrepancy.
    """
    where = f"in directory {go_quote(version_dir)}"
    for path in sorted(stored):
        entry = stored[path]
        seen = observed.get(path)
        if seen is None:
            raise RequestError(500, f'"{path}" listed in manifest cannot be found {where}')
        if seen.get("size") != entry.get("size", 0):
            raise RequestError(500, f'incorrect size in manifest for "{path}" {where}')
        if seen.get("md5sum") != entry.get("md5sum", ""):
            raise RequestError(500, f'incorrect MD5 checksum in manifest for "{path}" {where}')
        problem = link_difference(seen.get("link"), entry.get("link"))
        if problem is not None:
            raise RequestError(500, f'mismatching link information for "{path}" {where}; {problem}')
    for path in sorted(observed):
        if path not in stored:
            raise RequestError(
                500, f'extra file "{path}" is not present in manifest for directory {go_quote(version_dir)}'
            )


def check_linkfiles(
    observed: dict[str, dict[str, Link]], found: dict[str, dict[str, Link]], version_dir: str
) -> None:
    """Each directory with links needs a ``..links`` listing exactly those links, and no other has one.

    Args:
        observed: Links seen on disk, by directory then base name.
        found: Contents of the existing ``..links`` files, by directory.
        version_dir: The version directory, which the messages name.

    Raises:
        RequestError: 500 describing the first discrepancy.
    """
    where = f"in directory {go_quote(version_dir)}"
    for directory in sorted(observed):
        links = observed[directory]
        label = directory or "."
        recorded = found.get(directory)
        if recorded is None:
            raise RequestError(500, f'expected a linkfile at "{label}" {where}')
        for name in sorted(links):
            if name not in recorded:
                raise RequestError(500, f'missing path "{name}" from linkfile "{label}" {where}')
            problem = link_difference(links[name], recorded[name])
            if problem is not None:
                raise RequestError(
                    500,
                    f'mismatching link information for "{name}" in linkfile "{label}" {where}; {problem}',
                )
        for name in sorted(recorded):
            if name not in links:
                raise RequestError(500, f'extra path "{name}" in linkfile "{label}" {where}')
    for directory in sorted(found):
        if directory not in observed:
            raise RequestError(500, f'extra linkfile "{directory or "."}" {where}')
