"""`vibehq secrets`: store, rotate, grant and shred secrets; see who had them released.

Values come from standard input or a named environment variable, never from the
command line (argv is visible to every user of the machine and kept in shell
history). The operator at the shell reaches the database directly, as an admin.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Final, TypeVar
from uuid import uuid4

import typer
from rich.console import Console
from rich.table import Table

from application.aggregates import CommandContext
from application.secrets import SecretService
from domain.contracts import (
    NewSecret,
    SecretGrantRequest,
    SecretInfo,
    SecretSummary,
    SecretValueRequest,
)
from domain.decoding import ContractViolation, convert
from domain.secrets import secret_stream_id
from infrastructure.secrets.keys import (
    MasterKeyError,
    add_master_key,
    remove_master_key,
    ring_file,
)
from infrastructure.secrets.rewrap import key_usage, retirable, rewrap
from infrastructure.settings import Settings
from interfaces.cli.common import (
    CommandError,
    fail,
    parsed,
    progress_bar,
    run_command,
    runtime_for,
    settings,
)
from interfaces.command_resources import secret_keys

T = TypeVar("T")
C = TypeVar("C")

secrets_app = typer.Typer(
    help="Secrets: sealed at rest, released only to granted services, audited (docs/secrets.md).",
    no_args_is_help=True,
)

FROM_ENV_HELP: Final = "Read the value from this environment variable instead of stdin."
OPERATOR: Final = "operator"


def _context(actor: str) -> CommandContext:
    return CommandContext(actor=actor, correlation_id=uuid4(), admin=True)


def _value(from_env: str | None) -> str:
    """The value, from the named variable or stdin; never echoed."""
    if from_env is not None:
        value = os.environ.get(from_env)
        if not value:
            fail(f"the environment variable {from_env} is not set", 2)
        return value
    if sys.stdin.isatty():
        typer.echo("value (end with Ctrl-D): ", err=True, nl=False)
    value = sys.stdin.read().rstrip("\n")
    if not value:
        fail("no value on stdin; pipe one in, or use --from-env VAR", 2)
    return value


def _checked(build: type[C], **fields: object) -> C:
    try:
        return convert(fields, build)
    except ContractViolation as error:
        fail(f"{error.field}: {error}", 2)


def _show(info: SecretInfo) -> None:
    console = Console(soft_wrap=True)
    state = "shredded" if info.shredded else f"{len(info.versions)} version(s)"
    console.print(f"{info.name} ({info.kind}) owned by {info.owner}: {state}", highlight=False)
    for version in info.versions:
        console.print(
            f"  v{version.version}  fingerprint {version.fingerprint[:16]}  "
            f"by {version.added_by} at {version.added_at:%Y-%m-%d %H:%M:%S}",
            highlight=False,
        )
    for grant in info.grants:
        until = f" until {grant.expires_at.isoformat()}" if grant.expires_at else ""
        console.print(f"  granted to {grant.principal} for {grant.purpose}{until}", highlight=False)


@secrets_app.command("set")
def secrets_set(
    name: Annotated[str, typer.Argument(help="The secret's name, e.g. openai-prod.")],
    kind: Annotated[str, typer.Option(help="api_key, token, password, ssh_key, ...")] = "api_key",
    from_env: Annotated[str | None, typer.Option("--from-env", help=FROM_ENV_HELP)] = None,
    actor: Annotated[str, typer.Option(help="Who owns it (recorded).")] = OPERATOR,
) -> None:
    """Store a new secret, or rotate an existing one to a new value (stdin or --from-env)."""
    config = settings()
    value = _value(from_env)

    async def go() -> SecretInfo:
        async with runtime_for(config) as runtime:
            service = runtime.services.secrets
            if await runtime.store.stream_version(secret_stream_id(name)):
                rotation = _checked(SecretValueRequest, value=value)
                return await service.add_version(name, rotation, _context(actor))
            first = _checked(NewSecret, name=name, value=value, kind=kind)
            return await service.create(first, _context(actor))

    _show(run_command(go))


@secrets_app.command("rotate")
def secrets_rotate(
    name: Annotated[str, typer.Argument(help="The secret's name.")],
    from_env: Annotated[str | None, typer.Option("--from-env", help=FROM_ENV_HELP)] = None,
) -> None:
    """Give an existing secret its next value (stdin or --from-env); resolves return it
    from now on, and earlier versions stay until shredded."""
    config = settings()
    value = _value(from_env)
    rotation = parsed(lambda: _checked(SecretValueRequest, value=value))
    _show(
        run_command(
            lambda: _with(config, lambda s: s.add_version(name, rotation, _context(OPERATOR)))
        )
    )


@secrets_app.command("list")
def secrets_list(
    owner: Annotated[str | None, typer.Option(help="Only this actor's secrets.")] = None,
) -> None:
    """Every secret by name: kind, owner, versions, grants, when it last changed."""
    config = settings()

    async def go() -> tuple[list[SecretSummary], int]:
        async with runtime_for(config) as runtime:
            items: list[SecretSummary] = []
            cursor = None
            while True:
                page = await runtime.services.secret_list.page(
                    limit=500, cursor=cursor, visible_to=owner
                )
                items.extend(page.items)
                if (cursor := page.next_cursor) is None:
                    behind = await runtime.store.head_position() - page.as_of_position
                    return items, behind

    items, behind = run_command(go)
    if behind > 0:
        typer.echo(
            "note: the list has not caught up with the log yet; `vibehq serve` (or "
            "`vibehq worker`) keeps it current, `vibehq projections rebuild secrets` "
            "brings it up to date now",
            err=True,
        )
    if not items:
        typer.echo("no secrets" + (f" owned by {owner}" if owner else ""))
        return
    table = Table("name", "kind", "owner", "versions", "grants", "changed")
    for item in items:
        versions = "shredded" if item.shredded else str(item.versions)
        changed = f"{item.changed_at:%Y-%m-%d %H:%M}"
        table.add_row(item.name, item.kind, item.owner, versions, str(item.grants), changed)
    Console(soft_wrap=True).print(table)


@secrets_app.command("show")
def secrets_show(name: Annotated[str, typer.Argument(help="The secret's name.")]) -> None:
    """Its versions (fingerprints, never values) and grants."""
    config = settings()
    _show(run_command(lambda: _with(config, lambda s: s.info(name, _context(OPERATOR)))))


@secrets_app.command("grant")
def secrets_grant(
    name: Annotated[str, typer.Argument(help="The secret's name.")],
    to: Annotated[str, typer.Option("--to", help="The principal, e.g. llm-router.")],
    purpose: Annotated[str, typer.Option(help="env:NAME, file:PATH, provider:ID or git.")],
    until: Annotated[datetime | None, typer.Option(help="Expires at (ISO 8601).")] = None,
) -> None:
    """Let a principal use the secret for one purpose."""
    config = settings()
    request = parsed(lambda: _grant(to, purpose, until))
    _show(run_command(lambda: _with(config, lambda s: s.grant(name, request, _context(OPERATOR)))))


@secrets_app.command("revoke")
def secrets_revoke(
    name: Annotated[str, typer.Argument(help="The secret's name.")],
    principal: Annotated[str, typer.Argument(help="Whose grant to take away.")],
) -> None:
    """Take a principal's grant away."""
    config = settings()
    _show(
        run_command(lambda: _with(config, lambda s: s.revoke(name, principal, _context(OPERATOR))))
    )


@secrets_app.command("reads")
def secrets_reads(name: Annotated[str, typer.Argument(help="The secret's name.")]) -> None:
    """Who had the value released, or was refused, when and for what."""
    config = settings()
    releases = run_command(lambda: _with(config, lambda s: s.releases(name, _context(OPERATOR))))
    table = Table("at", "principal", "purpose", "outcome", "version / reason")
    for item in releases.items:
        table.add_row(
            f"{item.at:%Y-%m-%d %H:%M:%S}",
            item.principal,
            item.purpose,
            item.outcome,
            str(item.version) if item.outcome == "released" else item.reason,
        )
    Console(soft_wrap=True).print(table)


@secrets_app.command("shred")
def secrets_shred(
    name: Annotated[str, typer.Argument(help="The secret's name.")],
    confirm: Annotated[str, typer.Option(help="The secret's name again.")],
) -> None:
    """Destroy its keys: every version becomes unreadable, for good (the log stays)."""
    config = settings()
    _show(run_command(lambda: _with(config, lambda s: s.shred(name, confirm, _context(OPERATOR)))))


def _grant(to: str, purpose: str, until: datetime | None) -> SecretGrantRequest:
    try:
        return convert(
            {"principal": to, "purpose": purpose, "expires_at": until}, SecretGrantRequest
        )
    except ContractViolation as error:
        raise CommandError(f"{error.field}: {error}") from None


async def _with(config: Settings, use: Callable[[SecretService], Awaitable[T]]) -> T:
    async with runtime_for(config) as runtime:
        return await use(runtime.services.secrets)


master_key_app = typer.Typer(
    help="The master keys that wrap the secrets' data keys: rotate without downtime.",
    no_args_is_help=True,
)


def _ring_path(config: Settings) -> Path:
    if config.master_key:
        fail(
            "VIBEHQ_MASTER_KEY is set: rotate by giving it `1:OLD,2:NEW`, then run "
            "`vibehq master-key rewrap`",
            2,
        )
    return ring_file(config)


@master_key_app.command("status")
def master_key_status() -> None:
    """The current master key version, and how many data keys each version wraps."""
    config = settings()

    async def go() -> tuple[int, dict[int, int]]:
        async with secret_keys(config) as (pool, ring):
            return ring.current, await key_usage(pool)

    current, usage = run_command(go)
    typer.echo(f"current master key: version {current}")
    for version, keys in usage.items():
        typer.echo(f"  version {version}: {keys} data key(s)")


@master_key_app.command("rotate")
def master_key_rotate() -> None:
    """Add a new master key version: new data keys are wrapped with it from now on."""
    config = settings()
    version = add_master_key(_ring_path(config))
    typer.echo(f"master key version {version} is current; run `vibehq master-key rewrap`")


@master_key_app.command("rewrap")
def master_key_rewrap(
    batch: Annotated[int, typer.Option(help="Data keys per transaction.", min=1)] = 500,
) -> None:
    """Re-wrap every data key with the current master key (reads go on meanwhile)."""
    config = settings()
    console = Console(stderr=True)

    async def go() -> int:
        async with secret_keys(config) as (pool, ring):
            total = sum(n for v, n in (await key_usage(pool)).items() if v < ring.current)
            with progress_bar(console, "re-wrapping data keys", total) as update:
                return await rewrap(pool, ring, batch=batch, progress=update)

    typer.echo(f"re-wrapped {run_command(go)} data key(s)")


@master_key_app.command("retire")
def master_key_retire(version: Annotated[int, typer.Argument(help="The version to drop.")]) -> None:
    """Drop an old master key version; refused while any data key still uses it."""
    config = settings()
    path = _ring_path(config)

    async def go() -> None:
        async with secret_keys(config) as (pool, _):
            await retirable(pool, version)

    try:
        run_command(go)
        remove_master_key(path, version)
    except MasterKeyError as error:
        fail(str(error))
    typer.echo(f"master key version {version} retired")
