"""`vibehq env-profile`: which secrets become which environment variables for a kind
of agent session (docs/secrets.md). Only names here: values never pass through."""

from __future__ import annotations

import re
from typing import Annotated, Final
from uuid import uuid4

import typer
from rich.console import Console

from application.aggregates import CommandContext
from domain.contracts import EnvProfileInfo, EnvProfileRequest
from domain.decoding import ContractViolation, convert
from interfaces.cli.common import CommandError, parsed, run_command, runtime_for, settings

_VARIABLE: Final = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")

env_profile_app = typer.Typer(
    help="Env profiles: the environment an agent session of a kind starts with, "
    "VARIABLE=secret, resolved only for a granted service (docs/secrets.md).",
    no_args_is_help=True,
)


def _context() -> CommandContext:
    return CommandContext(actor="operator", correlation_id=uuid4(), admin=True)


def _bindings(required: list[str], optional: list[str]) -> EnvProfileRequest:
    variables: dict[str, dict[str, object]] = {}
    for pairs, needed in ((required, True), (optional, False)):
        for pair in pairs:
            variable, equals, secret = pair.partition("=")
            if not equals or not variable or not secret:
                raise CommandError(f"{pair!r} is not VARIABLE=secret-name")
            if not _VARIABLE.fullmatch(variable):
                raise CommandError(
                    f"{variable!r} is not an environment variable name "
                    "(capitals, digits and _, not starting with a digit)"
                )
            if variable in variables:
                raise CommandError(f"{variable} is given twice")
            variables[variable] = {"secret": secret, "required": needed}
    try:
        return convert({"variables": variables}, EnvProfileRequest)
    except ContractViolation as error:
        raise CommandError(f"{error.field}: {error}") from None


def _show(info: EnvProfileInfo) -> None:
    console = Console(soft_wrap=True, highlight=False)
    console.print(f"{info.name} (version {info.version}) owned by {info.owner}")
    for variable, binding in info.variables.items():
        optional = "" if binding.required else "  (optional)"
        console.print(f"  {variable} <- secret {binding.secret}{optional}")


@env_profile_app.command("set")
def env_profile_set(
    name: Annotated[str, typer.Argument(help="The profile, e.g. cli-agent.")],
    variables: Annotated[
        list[str],
        typer.Argument(help="VARIABLE=secret-name, e.g. OPENAI_API_KEY=openai-prod."),
    ],
    optional: Annotated[
        list[str] | None,
        typer.Option(help="VARIABLE=secret-name a session may start without (repeatable)."),
    ] = None,
) -> None:
    """Define the profile, or replace its variables (a new version; the old stays in
    the log). A session started with it gets every required variable or none."""
    config = settings()
    request = parsed(lambda: _bindings(variables, optional or []))

    async def go() -> EnvProfileInfo:
        async with runtime_for(config) as runtime:
            return await runtime.services.profiles.define(name, request, _context())

    _show(run_command(go))


@env_profile_app.command("show")
def env_profile_show(name: Annotated[str, typer.Argument(help="The profile's name.")]) -> None:
    """Its variables and the secrets they come from (names only)."""
    config = settings()

    async def go() -> EnvProfileInfo:
        async with runtime_for(config) as runtime:
            return await runtime.services.profiles.show(name)

    _show(run_command(go))
