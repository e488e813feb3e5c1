"""The command tree as ``click`` objects, for the documentation's ``sphinx-click`` directive.

typer builds its commands on a private copy of click, whose classes ``sphinx-click`` does not recognise, so
the docs render this faithful mirror instead: same names, help texts, options, arguments, defaults and
environment variables, generated from the application itself (nothing is written twice). Only the docs
build imports this module; it needs the real ``click`` package (a dependency of ``sphinx-click``).
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import click

from .main import application

__all__ = ["command"]


def _declarations(param: Any) -> list[str]:
    opts = list(param.opts)
    secondary = list(getattr(param, "secondary_opts", []) or [])
    if secondary:
        # click spells an on/off pair as one declaration: "--offline/--online".
        opts[0] = f"{opts[0]}/{secondary[0]}"
    return opts


def _type(param: Any) -> click.ParamType[Any]:
    annotation = param.type_descriptor.annotation
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return click.Choice([member.value for member in annotation])
    if annotation is int:
        return click.INT
    if annotation is float:
        return click.FLOAT
    if annotation is Path:
        return click.Path()
    return click.STRING


def _parameter(param: Any) -> click.Parameter:
    if param.param_type_name == "argument":
        return click.Argument(
            [param.name],
            required=param.required,
            nargs=param.nargs,
            metavar=param.metavar or param.name.upper(),
        )
    flag = bool(getattr(param, "is_flag", False))
    count = bool(getattr(param, "count", False))
    options: dict[str, Any] = {
        "help": param.help,
        "required": param.required,
        "multiple": param.multiple,
        "envvar": param.envvar,
        "show_envvar": bool(param.envvar),
        "metavar": param.metavar,
        "show_default": bool(getattr(param, "show_default", False)) and not flag and not count,
        "default": getattr(param.default, "value", param.default) if not count else 0,
    }
    if count:
        options["count"] = True
    elif flag:
        options["is_flag"] = True
        options["default"] = bool(param.default)
    else:
        options["type"] = _type(param)
    return click.Option(_declarations(param), **options)


def _mirror(source: Any, name: str) -> click.Command:
    params = [_parameter(p) for p in source.params if not getattr(p, "hidden", False)]
    common: dict[str, Any] = {
        "help": source.help,
        "short_help": source.short_help,
        "epilog": source.epilog,
        "params": params,
    }
    commands = getattr(source, "commands", None)
    if commands is not None:
        return click.Group(name, commands={key: _mirror(cmd, key) for key, cmd in commands.items()}, **common)
    return click.Command(name, **common)


#: The whole ``gobbler-sdk`` program, as sphinx-click expects it.
command: click.Command = _mirror(application(), "gobbler-sdk")
