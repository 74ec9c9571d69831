"""Options of the command line: the servers' made from their settings models, and the help's
looks (real placeholders, no type for a flag) for every command.

A server command takes one flag per field of its settings model (`ektp_sync.config`), with the
field's flag name, environment variables, placeholder, help line and constraints, and hands
the model the values given, whole; nothing about an option is written twice.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import annotated_types
import typer
from pydantic import AliasChoices, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings
from typer.core import TyperCommand, TyperGroup, TyperOption

from ektp_sync.config import ENV_PREFIX, Cli, ConfigError, Storage

Settings = TypeVar("Settings", bound=BaseSettings)


def env(name: str) -> str:
    """The environment variable of an option that is not a settings field: EKTP_<NAME>."""
    return f"{ENV_PREFIX}{name.upper().replace('-', '_')}"


class _PlainFlags:
    """A flag takes no value, so --help shows no placeholder for it (typer shows "<bool>")."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
                param.metavar = ""
        return params


class Command(_PlainFlags, TyperCommand):
    """The class of every command (`cls=Command`)."""


class Group(_PlainFlags, TyperGroup):
    """The class of every group (`cls=Group`)."""


def cli_of(field: FieldInfo) -> Cli:
    for marker in field.metadata:
        if isinstance(marker, Cli):
            return marker
    raise TypeError(f"settings field without a Cli marker: {field}")


def flag_of(name: str, field: FieldInfo) -> str:
    return cli_of(field).flag or f"--{name.replace('_', '-')}"


def envvars_of(name: str, field: FieldInfo) -> list[str]:
    """The variables pydantic-settings reads for the field: its aliases, else EKTP_<NAME>."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    if isinstance(alias, str):
        return [alias]
    return [env(name)]


def field_option(model: type[BaseSettings], name: str) -> Any:
    """The typer option of one settings field (its flag, variables, placeholder, help line)."""
    field = model.model_fields[name]
    cli = cli_of(field)
    bounds: dict[str, Any] = {}
    for constraint in field.metadata:
        if isinstance(constraint, annotated_types.Ge):
            bounds["min"] = constraint.ge
        elif isinstance(constraint, annotated_types.Le):
            bounds["max"] = constraint.le
    return typer.Option(
        flag_of(name, field),
        envvar=envvars_of(name, field),
        metavar=cli.metavar,
        help=field.description,
        rich_help_panel=cli.panel,
        **bounds,
    )


def _parameter(model: type[BaseSettings], name: str) -> inspect.Parameter:
    field = model.model_fields[name]
    annotation: Any = field.annotation
    if annotation == dict[str, str]:  # CODE=KEY pairs: a repeated flag
        annotation = list[str] | None
    default = None if field.default_factory is not None else field.default
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[annotation, field_option(model, name)],
    )


def build(model: type[Settings], values: dict[str, Any]) -> Settings:
    """The model from the values typer parsed (flags, else their variables, else the field's
    default); a value typer left None is the model's to fill. Unusable settings end the
    command with exit code 2, the message naming the flag."""
    try:
        return model(**{name: value for name, value in values.items() if value is not None})
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            names = [str(part) for part in error["loc"]]
            where = ", ".join(
                flag_of(n, model.model_fields[n]) for n in names if n in model.model_fields
            )
            typer.echo(f"error: {where + ': ' if where else ''}{error['msg']}", err=True)
    raise typer.Exit(2)


def settings_command(
    model: type[Settings], run: Callable[[Settings], None], doc: str | None
) -> Callable[..., None]:
    """A typer command with one option per field of `model` that runs `run(settings)`."""
    params = [_parameter(model, name) for name in model.model_fields]

    def command(**values: Any) -> None:
        run(build(model, values))

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = doc
    return command


#: --data-dir of the servers, for other commands that keep data (demo)
DataDir = Annotated[Path, field_option(Storage, "data_dir")]
DEFAULT_DATA_DIR: Path = Storage.model_fields["data_dir"].default

LocalUrl = Annotated[
    str,
    typer.Option(
        "--local-url", envvar=env("local_url"), metavar="URL", help="Base URL of the office's node."
    ),
]
