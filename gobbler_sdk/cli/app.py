"""The typer application: global options, the session each command works in, and error reporting.

Commands are registered with :func:`command` (or :func:`group_command` for sub-command families) by the
modules imported at the bottom of this file. Each command also accepts the output options ``--json``,
``--quiet`` and ``--verbose`` after its name, and turns every :class:`~gobbler_sdk.GobblerError` into a
one-line message and the exit status of its family (:mod:`gobbler_sdk.cli.exitcodes`).
"""

from __future__ import annotations

import enum
import functools
import inspect
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from .. import __version__
from ..errors import GobblerError
from . import exitcodes
from .output import Output

if TYPE_CHECKING:
    from ..client import GobblerClient

__all__ = [
    "Settings",
    "Transport",
    "UsageError",
    "app",
    "command",
    "existing_directory",
    "run",
    "settings_of",
    "usage_error",
]

_F = TypeVar("_F", bound=Callable[..., Any])

_HELP = """Every operation of a Gobbler registry from the shell: browse, upload, download, manage.

Paths are written PROJECT, PROJECT/ASSET, PROJECT/ASSET/VERSION or PROJECT/ASSET/VERSION/PATH. Results
go to standard output (tables for people, one JSON document with --json); messages, prompts and progress
go to standard error.
"""

_EPILOG = (
    "Exit status: 0 success, 1 other failure, 2 usage error, 3 not found, 4 permission denied, "
    "5 invalid request or name, 6 integrity error, 7 service unavailable, 8 other service error, "
    "9 configuration error, 10 local file error, 11 outcome unknown (the request may have been applied), "
    "130 interrupted."
)

app = typer.Typer(
    name="gobbler-sdk",
    help=_HELP,
    epilog=_EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Transport(str, enum.Enum):
    """How reads reach the registry (``--transport``)."""

    auto = "auto"
    local = "local"
    remote = "remote"


@dataclass
class Settings:
    """The global options of one invocation, and the client built from them on first use.

    Attributes:
        url: ``--url`` (``None``: the client reads ``GOBBLER_URL``).
        staging: ``--staging`` (``None``: ``GOBBLER_STAGING`` or the service's).
        registry: ``--registry`` (``None``: ``GOBBLER_REGISTRY`` or the service's).
        cache: ``--cache`` (``None``: ``GOBBLER_CACHE`` or the user cache directory).
        transport: ``--transport``.
        offline: ``--offline`` (``None``: the client reads ``GOBBLER_OFFLINE``).
        json_mode: ``--json``.
        quiet: ``--quiet``.
        verbose: How often ``--verbose`` was given.
        timeout: Seconds per read request (``None``: the client's default); shell completion shortens it.
        retries: Further attempts after a transient failure (``None``: the client's default).
    """

    url: str | None = None
    staging: str | None = None
    registry: str | None = None
    cache: str | None = None
    transport: str = "auto"
    offline: bool | None = None
    json_mode: bool = False
    quiet: bool = False
    verbose: int = 0
    timeout: float | None = None
    retries: int | None = None
    _client: GobblerClient | None = field(default=None, repr=False)

    @property
    def output(self) -> Output:
        """Where results and messages go, for the current output options."""
        return Output(json_mode=self.json_mode, quiet=self.quiet)

    @property
    def progress(self) -> bool:
        """Whether to ask for progress bars (the SDK draws them only when stderr is a terminal)."""
        return not self.quiet and not self.json_mode

    def client(self) -> GobblerClient:
        """The session every command of this invocation shares (built on first use).

        Raises:
            ConfigurationError: When the options are unusable.
        """
        if self._client is None:
            from .. import GobblerClient

            options: dict[str, Any] = {
                "staging": self.staging,
                "registry": self.registry,
                "cache": self.cache,
                "transport": self.transport,
            }
            if self.offline is not None:
                options["offline"] = self.offline
            if self.timeout is not None:
                options["timeout"] = self.timeout
            if self.retries is not None:
                options["retries"] = self.retries
            self._client = GobblerClient(self.url, **options)
        return self._client

    def close(self) -> None:
        """Close the client's connections, if one was made."""
        if self._client is not None:
            self._client.close()
            self._client = None


def settings_of(ctx: typer.Context) -> Settings:
    """The :class:`Settings` of the invocation ``ctx`` belongs to (root options only while completing)."""
    obj = ctx.find_root().obj
    if isinstance(obj, Settings):
        return obj
    # Shell completion parses the root options but never runs the root callback.
    params = ctx.find_root().params
    transport = params.get("transport")
    return Settings(
        url=params.get("url"),
        staging=params.get("staging"),
        registry=params.get("registry"),
        cache=params.get("cache"),
        transport=transport.value if isinstance(transport, Transport) else "auto",
        offline=params.get("offline"),
    )


def _show_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"gobbler-sdk {__version__}\n")
        raise typer.Exit()


def _configure_logging(settings: Settings) -> None:
    # An application may install handlers; the library never does. Warnings of degraded modes (offline
    # fallbacks, skipped files) reach people unless --quiet; -v adds INFO records, -vv DEBUG.
    logger = logging.getLogger("gobbler_sdk")
    if any(getattr(handler, "_gobbler_cli", False) for handler in logger.handlers):
        handler = next(h for h in logger.handlers if getattr(h, "_gobbler_cli", False))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler._gobbler_cli = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("gobbler-sdk: %(levelname)s: %(message)s"))
        logger.addHandler(handler)
    if settings.verbose >= 2:
        level = logging.DEBUG
    elif settings.verbose == 1:
        level = logging.INFO
    else:
        level = logging.ERROR if settings.quiet else logging.WARNING
    logger.setLevel(level)
    handler.setLevel(level)


# The output options, accepted before the command and after its name (``gobbler-sdk ls --json``).
_Json = Annotated[bool, typer.Option("--json", help="Write one JSON document to standard output.")]
_Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or informational messages.")]
_Verbose = Annotated[
    int,
    typer.Option(
        "--verbose", "-v", count=True, help="Log what the SDK does (-vv: debug); tracebacks on errors."
    ),
]
_OUTPUT_OPTIONS: dict[str, tuple[Any, Any]] = {
    "json_mode": (_Json, False),
    "quiet": (_Quiet, False),
    "verbose": (_Verbose, 0),
}


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Option("--url", envvar="GOBBLER_URL", help="The service's REST API.")
    ] = None,
    staging: Annotated[
        str | None,
        typer.Option(
            "--staging", envvar="GOBBLER_STAGING", help="Staging directory (default: the service's)."
        ),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry", envvar="GOBBLER_REGISTRY", help="Registry directory (default: the service's)."
        ),
    ] = None,
    cache: Annotated[
        str | None,
        typer.Option(
            "--cache", envvar="GOBBLER_CACHE", help="Download cache (default: the user cache directory)."
        ),
    ] = None,
    transport: Annotated[
        Transport,
        typer.Option(
            "--transport",
            help="Read the mounted registry (local), over HTTP (remote), or whichever works (auto).",
        ),
    ] = Transport.auto,
    offline: Annotated[
        bool | None,
        typer.Option(
            "--offline/--online",
            help="Serve reads from the cache only, never touching the network (default: GOBBLER_OFFLINE).",
            show_default=False,
        ),
    ] = None,
    json_mode: _Json = False,
    quiet: _Quiet = False,
    verbose: _Verbose = 0,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Every operation of a Gobbler registry from the shell."""
    settings = Settings(
        url=url,
        staging=staging,
        registry=registry,
        cache=cache,
        transport=transport.value,
        offline=offline,
        json_mode=json_mode,
        quiet=quiet,
        verbose=verbose,
    )
    ctx.obj = settings
    ctx.call_on_close(settings.close)
    _configure_logging(settings)


def _fail(settings: Settings, error: BaseException, code: int) -> typer.Exit:
    """Report ``error`` (one line; the traceback too with -v) and return the exit to raise."""
    if settings.verbose:
        traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    message = str(error) or type(error).__name__
    output = settings.output
    if output.json_mode:
        document: dict[str, Any] = {"type": type(error).__name__, "message": message, "exit_code": code}
        if isinstance(error, GobblerError):
            document["status"] = error.status
            document["reason"] = error.reason
        output.document({"error": document})
    output.error(message)
    return typer.Exit(code)


def _wrap(function: _F) -> Callable[..., Any]:
    """The command callback: ``function`` plus the output options and the error handling."""
    signature = inspect.signature(function, eval_str=True)
    wants_context = "ctx" in signature.parameters
    parameters = [p for p in signature.parameters.values() if p.name != "ctx"]
    added = [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        *parameters,
        *(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=hint, default=default)
            for name, (hint, default) in _OUTPUT_OPTIONS.items()
        ),
    ]

    @functools.wraps(function)
    def callback(ctx: typer.Context, **params: Any) -> Any:
        settings = settings_of(ctx)
        settings.json_mode = params.pop("json_mode") or settings.json_mode
        settings.quiet = params.pop("quiet") or settings.quiet
        settings.verbose = max(params.pop("verbose"), settings.verbose)
        _configure_logging(settings)
        if wants_context:
            params["ctx"] = ctx
        try:
            return function(**params)
        except GobblerError as exc:
            raise _fail(settings, exc, exitcodes.code_for(exc)) from None
        except UsageError as exc:
            raise _fail(settings, exc, exitcodes.USAGE) from None
        except KeyboardInterrupt:
            settings.output.error("interrupted")
            raise typer.Exit(exitcodes.INTERRUPTED) from None
        except OSError as exc:
            raise _fail(settings, exc, exitcodes.FAILURE) from None

    callback.__signature__ = signature.replace(parameters=added)  # type: ignore[attr-defined]
    callback.__annotations__ = {p.name: p.annotation for p in added}
    return callback


def command(name: str, *, on: typer.Typer | None = None, **options: Any) -> Callable[[_F], _F]:
    """Register the decorated function as the command ``name`` of ``on`` (the root application)."""

    def register(function: _F) -> _F:
        (on or app).command(name, **options)(_wrap(function))
        return function

    return register


class UsageError(Exception):
    """A usage error found by a command itself (exit status 2), reported in one line like the others."""


def usage_error(message: str) -> UsageError:
    """A usage error (exit status 2) with ``message``; raise it."""
    return UsageError(message)


def run(args: Sequence[str] | None, *, prog_name: str) -> int:
    """Run the application like a console script and return the exit status."""
    try:
        app(args=list(args) if args is not None else None, prog_name=prog_name)
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return exitcodes.OK
        if isinstance(code, int):
            return code
        sys.stderr.write(f"{code}\n")
        return exitcodes.FAILURE
    return exitcodes.OK


def existing_directory(path: Path) -> Path:
    """``path`` if it is a directory; otherwise a usage error (nothing is written before this check)."""
    if not path.is_dir():
        raise usage_error(f"{path} is not a directory")
    return path


# The command families register themselves on ``app`` when imported, in the order help lists them.
from . import browse  # noqa: E402,F401  isort: skip
from . import transfer  # noqa: E402,F401  isort: skip
from . import writes  # noqa: E402,F401  isort: skip
from . import cache as _cache_commands  # noqa: E402,F401  isort: skip
from . import serve  # noqa: E402,F401  isort: skip
from .web import browse as _web_browse  # noqa: E402  isort: skip

command("browse")(_web_browse)
