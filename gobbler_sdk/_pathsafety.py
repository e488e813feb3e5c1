"""The one rule for paths that come from a server or a manifest: they must stay where they are put.

A registry-relative path is accepted only when it is non-empty, relative, free of backslashes and NUL
bytes, and has no empty, ``.`` or ``..`` component. Anything else is rejected before a byte is written.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UnsafePathError

__all__ = ["checked_relative", "join_inside"]


def checked_relative(path: str) -> str:
    """Return ``path`` unchanged when it is a safe registry-relative path.

    Args:
        path: ``/``-separated path such as ``project/asset/version/dir/file``.

    Raises:
        UnsafePathError: When the path is absolute, climbs, is empty or contains a backslash or NUL.
    """
    if path == "" or path.startswith("/") or "\\" in path or "\x00" in path:
        raise UnsafePathError(f"refusing unsafe path {path!r}")
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise UnsafePathError(f"refusing unsafe path {path!r}")
    return path


def join_inside(root: Path, path: str) -> Path:
    """Join a server-supplied relative path onto ``root`` and prove the result stays inside it.

    Raises:
        UnsafePathError: When the path is unsafe or, through a symlink already on disk, would land
            outside ``root``.
    """
    target = root.joinpath(*checked_relative(path).split("/"))
    real_root = os.path.realpath(root)
    real_parent = os.path.realpath(target.parent)
    if os.path.commonpath([real_root, real_parent]) != real_root:
        raise UnsafePathError(f"refusing path {path!r}: it leaves {root}")
    return target
