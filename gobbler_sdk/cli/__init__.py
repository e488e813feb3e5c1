"""The ``gobbler-sdk`` command line: every operation of the SDK from a shell.

Run ``gobbler-sdk --help`` for the commands; ``python -m gobbler_sdk`` runs the same program. The command
line is an edge of the SDK: it works only through the public client API (:class:`~gobbler_sdk.GobblerClient`,
the handles, models and errors). Start-up stays fast because nothing heavier than ``typer`` is imported
before a command needs it.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["main"]


def main(args: Sequence[str] | None = None, *, prog_name: str = "gobbler-sdk") -> int:
    """Run the command line and return its exit status (see :mod:`gobbler_sdk.cli.exitcodes`).

    Args:
        args: The arguments after the program name; ``sys.argv[1:]`` when ``None``.
        prog_name: The name shown in usage messages and used for shell completion.
    """
    from .main import run

    return run(args, prog_name=prog_name)
