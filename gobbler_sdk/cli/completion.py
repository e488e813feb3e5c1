r"""Shell completion of project, asset, version and file names, read from the registry.

``gobbler-sdk --install-completion`` installs typer's completion script for bash, zsh, fish or PowerShell;
the script calls ``gobbler-sdk`` back with ``_GOBBLER_SDK_COMPLETE`` set, and the PATH arguments are
completed here one component at a time (``proj`` → ``project/``, ``project/`` → ``project/asset/``, ...)
through a client built from the global options already typed. Completion must never print an error into
someone's shell, so any failure simply yields no candidates; reads are bounded by a short time-out.

Names come from whoever can write to the registry, so a candidate is never handed to a shell as it is:
names holding a control character (a newline would split one candidate into two) are left out, and bash
receives every candidate with its special characters escaped (``data;id`` is inserted as ``data\;id``),
through a completion script of our own that also adds no space after a completed ``name/``.
"""

# No "from __future__ import annotations": typer inspects these callbacks' annotations at run time.

import re
from collections.abc import Callable
from typing import Any

import typer

from .app import settings_of
from .output import printable

__all__ = ["bash_quote", "install_bash_completion", "registry_paths"]

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
        # A name that cannot be shown as it is cannot be typed either: leave it out.
        return [prefix + name for name in names if name.startswith(stem) and printable(name) == name]

    return complete


# Characters a bash word may hold unescaped; ':' and '=' are escaped too, being word breaks for completion.
_BASH_PLAIN = re.compile(r"[A-Za-z0-9_@%+,./-]")


def bash_quote(word: str) -> str:
    """``word`` escaped for bash with backslashes, so that inserted on a command line it means itself.

    Backslashes rather than quotes keep the common prefix of several candidates insertable. ``word`` must
    hold no control character (a backslash before a newline would join lines instead).
    """
    return "".join(c if _plain(c) else "\\" + c for c in word)


def _plain(char: str) -> bool:
    # Letters and digits of any script are plain; of ASCII punctuation only what bash never interprets.
    return bool(_BASH_PLAIN.fullmatch(char)) or (char.isalnum() and not char.isascii())


# The bash side: candidates are read one per line into COMPREPLY without word splitting or globbing, and a
# single candidate ending in "/" is a container to complete further, so no space is added after it.
_BASH_SCRIPT = """
%(complete_func)s() {
    local IFS=$'\\n'
    local candidate
    COMPREPLY=()
    while IFS= read -r candidate; do
        [[ -n $candidate ]] && COMPREPLY+=("$candidate")
    done < <(env COMP_WORDS="${COMP_WORDS[*]}" COMP_CWORD="$COMP_CWORD" \\
                 %(autocomplete_var)s=complete_bash "$1" 2>/dev/null)
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == */ ]]; then
        compopt -o nospace 2>/dev/null
    fi
    return 0
}

complete -o default -F %(complete_func)s %(prog_name)s
"""


def install_bash_completion() -> None:
    """Use this module's bash completion (script and candidate format) instead of typer's.

    typer offers no public hook for either, so this replaces its bash script template and registers a
    completion class of its own; it must run after typer has registered its classes (when the command
    tree is built). The tests run the generated script in a real bash, so a change in typer shows there.
    """
    from typer import _completion_classes, _completion_shared
    from typer._click.shell_completion import add_completion_class

    class GobblerBashComplete(_completion_classes.BashComplete):
        source_template = _BASH_SCRIPT

        def format_completion(self, item: Any) -> str:
            return bash_quote(str(item.value))

    _completion_shared._completion_scripts["bash"] = _BASH_SCRIPT
    add_completion_class(GobblerBashComplete, "bash")
