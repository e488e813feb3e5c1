"""Go's lexical path helpers (``filepath.Clean``, ``Rel``, ``IsLocal``), which the protocol is defined by.

``posixpath.normpath`` differs from Go's ``Clean`` (it keeps a leading ``//``) and ``os.path.relpath``
consults the working directory, so both are re-created here. Nothing in this module touches the disk.
"""

from __future__ import annotations

__all__ = ["clean", "is_inside", "is_local", "join", "rel"]


def clean(path: str) -> str:
    """Return the shortest lexically equivalent path, as Go's ``filepath.Clean`` does."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    body = "/".join(parts)
    if rooted:
        return "/" + body
    return body or "."


def join(*elements: str) -> str:
    """Join non-empty elements with ``/`` and clean the result (Go's ``filepath.Join``)."""
    kept = [e for e in elements if e != ""]
    return clean("/".join(kept)) if kept else ""


def is_local(path: str) -> bool:
    """Whether ``path`` is relative, non-empty and stays below its start once cleaned (``IsLocal``)."""
    if path == "" or path.startswith("/"):
        return False
    cleaned = clean(path)
    return cleaned != ".." and not cleaned.startswith("../")


def rel(base: str, target: str) -> str | None:
    """Return ``target`` relative to ``base`` lexically; ``None`` when only one of them is absolute."""
    base, target = clean(base), clean(target)
    if base == target:
        return "."
    if base.startswith("/") != target.startswith("/"):
        return None
    base_parts = [] if base in (".", "/") else base.strip("/").split("/")
    target_parts = [] if target in (".", "/") else target.strip("/").split("/")
    common = 0
    while (
        common < len(base_parts) and common < len(target_parts) and base_parts[common] == target_parts[common]
    ):
        common += 1
    if ".." in base_parts[common:]:
        return None
    ups = [".."] * (len(base_parts) - common)
    result = "/".join(ups + target_parts[common:])
    return result or "."


def is_inside(path: str, directory: str) -> bool:
    """Whether ``path`` lies lexically inside (or is) ``directory``."""
    relative = rel(directory, path)
    return relative is not None and is_local(relative)
