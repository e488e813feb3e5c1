"""Shell completion of project, asset, version and file names, read from the registry.

``gobbler-sdk --install-completion`` installs typer's completion script for bash, zsh, fish or PowerShell;
the script calls ``gobbler-sdk`` back with ``_GOBBLER_SDK_COMPLETE`` set, and the PATH arguments are
completed here one component at a time (``proj`` → ``project/``, ``project/`` → ``project/asset/``, ...)
through a client built from the global options already typed. Completion must never print an error into
someone's shell, so any failure simply yields no candidates; reads are bounded by a short time-out.
"""

# No "from __future__ import annotations": typer inspects these callbacks' annotations at run time.

from collections.abc import Callable

import typer

from .app import settings_of

__all__ = ["registry_paths"]

# Seconds a completion may wait for the service; a shell user notices anything longer.
_TIMEOUT = 3.0


def _names(ctx: typer.Context, parts: list[str], deepest: int) -> list[str]:
    """Candidate next components after the complete components ``parts``, ``/`` marking containers."""
    settings = settings_of(ctx)
    settings.timeout = _TIMEOUT
    settings.retries = 0
    try:
        client = settings.client()
        level = len(parts)
        more = "/" if level + 1 < deepest else ""
        if level == 0:
            return [p.name + more for p in client.projects()]
        project = client.project(parts[0])
        if level == 1:
            return [a.name + more for a in project.assets()]
        asset = project.asset(parts[1])
        if level == 2:
            return [v.name + more for v in asset.versions()]
        version = asset.version(parts[2])
        inside = "/".join(parts[3:])
        start = inside + "/" if inside else ""
        found: set[str] = set()
        for path in version.manifest():
            if path.startswith(start):
                head, slash, _ = path[len(start) :].partition("/")
                found.add(head + slash)
        return sorted(found)
    finally:
        settings.close()


def registry_paths(deepest: int) -> Callable[[typer.Context, str], list[str]]:
    """A completion callback for PATH arguments of at most ``deepest`` components (4: files too)."""

    def complete(ctx: typer.Context, incomplete: str) -> list[str]:
        *complete_parts, stem = incomplete.split("/")
        if len(complete_parts) >= deepest:
            return []
        try:
            names = _names(ctx, complete_parts, deepest)
        except Exception:  # a shell completion must stay silent whatever goes wrong
            return []
        prefix = "".join(part + "/" for part in complete_parts)
        return [prefix + name for name in names if name.startswith(stem)]

    return complete
