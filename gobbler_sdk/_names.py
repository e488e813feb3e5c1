r"""The rules for project, asset and version names, shared by the client and the embedded service.

:func:`name_problem` is the service's rule: a name is invalid when it is empty,
contains ``/`` or ``\\``, or starts with ``..``; everything else passes validation. The embedded service
applies exactly that rule, as the reference does.

:func:`client_name_problem` adds what passes that rule but fails later on the service's file system, so
the client refuses it before anything is written (instead of copying a whole tree into staging for the
service to answer 500): a NUL character (no path may contain one), a name longer than 255 bytes in UTF-8
(the limit of one path component on every common file system), a name that cannot be encoded as UTF-8
(a lone surrogate would reach the service as U+FFFD, a different name), and ``.`` (which collapses into
the parent directory). Other control characters are valid file names and the service accepts them.
"""

from __future__ import annotations

__all__ = ["MAX_COMPONENT_BYTES", "client_name_problem", "name_problem"]

#: Longest file name (one path component) the usual file systems store, in bytes.
MAX_COMPONENT_BYTES = 255


def name_problem(name: str) -> str | None:
    """Say what is wrong with a project, asset or version name, by the service's rule.

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


def client_name_problem(name: str) -> str | None:
    """Say what is wrong with a name the client is about to send: the service's rule plus what then fails.

    Args:
        name: The candidate name.

    Returns:
        ``None`` for a name the service accepts and can store, otherwise the reason.
    """
    problem = name_problem(name)
    if problem is not None:
        return problem
    if name == ".":
        return "name cannot be '.' (it would be the parent directory itself)"
    if "\x00" in name:
        return "name cannot contain a NUL character"
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        return "name must be valid Unicode (it contains a lone surrogate)"
    if len(encoded) > MAX_COMPONENT_BYTES:
        return f"name cannot be longer than {MAX_COMPONENT_BYTES} bytes in UTF-8 (it has {len(encoded)})"
    return None
