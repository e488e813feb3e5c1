"""The whole program: the command modules assembled on the application, and the way it runs.

:mod:`gobbler_sdk.cli.app` defines the application and the machinery every command shares; the command
modules import it and register their commands; this module imports them all (in the order ``--help`` lists
them) and runs the result. Imports only go one way: ``main`` → command modules → ``app``.

Running here rather than through typer's own entry point lets every failure be reported alike: a usage
error found while parsing (an unknown option, a missing argument) is one line on standard error, and with
``--json`` also the JSON error document, exactly as a failure inside a command.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from typing import Any

import typer
import typer.main

from . import exitcodes
from .app import HELP_OPTIONS, UsageError, app, command, report_failure
from .completion import install_bash_completion

# The command modules register their commands on ``app`` when imported, in the order help lists them.
# isort: off
from . import reads, transfer, writes
from . import cache as _cache_commands
from . import serve
from . import compare
from . import web

# isort: on

__all__ = ["application", "run"]

# The web interface's module defines its command without the app (its imports stay light until it runs).
command("browse")(web.browse)

_COMMAND_MODULES = (reads, transfer, writes, _cache_commands, serve, compare, web)


def _parameters(command: Any) -> Iterator[Any]:
    # The help option is made on first use and kept: make it now, so that it is adjusted with the rest.
    yield from command.params
    help_option = command.get_help_option(typer.Context(command, help_option_names=HELP_OPTIONS))
    if help_option is not None:
        yield help_option
    for sub in getattr(command, "commands", {}).values():
        yield from _parameters(sub)


def _groups(command: Any) -> Iterator[Any]:
    if hasattr(command, "commands"):
        yield command
        for sub in command.commands.values():
            yield from _groups(sub)


def application(*, json_mode: bool = False) -> Any:
    """The assembled command tree (a click command object), ready to run or to document.

    Args:
        json_mode: ``--json`` was asked for: a group given no command reports a usage error (as a JSON
            document) instead of writing its help to standard output.
    """
    command = typer.main.get_command(app)
    for param in _parameters(command):
        # A flag or a counter takes no value: help shows no "<bool>" or "<int>" after it.
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
    if json_mode:
        for group in _groups(command):
            group.no_args_is_help = False
    return command


def _json_requested(args: Sequence[str]) -> bool:
    # A usage error can come before the option is parsed (or instead of it), so look at the words; after
    # "--" everything is an argument.
    words = list(args)
    if "--" in words:
        words = words[: words.index("--")]
    return "--json" in words


def _usage_message(error: typer.TyperException) -> str:
    message = error.format_message().rstrip(".")
    context = getattr(error, "ctx", None)
    if context is not None:
        message += f" (see '{context.command_path} --help')"
    return message


def run(args: Sequence[str] | None, *, prog_name: str) -> int:
    """Run the program like a console script and return its exit status."""
    words = list(sys.argv[1:] if args is None else args)
    command = application(json_mode=_json_requested(words))
    install_bash_completion()
    try:
        status = command.main(args=words, prog_name=prog_name, standalone_mode=False)
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            # No arguments at all: the help was shown, as the user asked by running the bare program.
            return exitcodes.USAGE
        report_failure(UsageError(_usage_message(exc)), exc.exit_code, json_mode=_json_requested(words))
        return exc.exit_code
    except typer.Abort as exc:  # end of input at a prompt
        report_failure(exc, exitcodes.FAILURE, json_mode=_json_requested(words))
        return exitcodes.FAILURE
    except SystemExit as exc:  # shell completion, --show-completion and --install-completion exit
        if exc.code is None:
            return exitcodes.OK
        if isinstance(exc.code, int):
            return exc.code
        sys.stderr.write(f"{exc.code}\n")
        return exitcodes.FAILURE
    return status if isinstance(status, int) else exitcodes.OK
