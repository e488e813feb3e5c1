r"""The one rule for project, asset and version names, shared by the client and the embedded service.

A name is invalid when it is empty, contains ``/`` or ``\\``, or starts with ``..``; everything else is
accepted (PROTOCOL.md section 5.1).
"""

from __future__ import annotations

__all__ = ["name_problem"]


def name_problem(name: str) -> str | None:
    """Say what is wrong with a project, asset or version name.

    Args:
        name: The candidate name.

    Returns:
        ``None`` for a valid name, otherwise the reason in the service's words.
    """
    if name == "":
        return "name cannot be empty"
    if "/" in name or "\\" in name:
        return "name cannot contain '/' or '\\'"
    if name.startswith(".."):
        return "name cannot start with '..'"
    return None
