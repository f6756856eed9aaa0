"""`vibehq tokens`: issue, list and revoke API tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar, cast
from uuid import UUID

import typer

from application.access import ActorKind, IssuedToken, Scope, TokenService
from domain.errors import Refused
from interfaces.cli.common import (
    chosen,
    id_range,
    parsed,
    run_command,
    settings,
    short,
)
from interfaces.command_resources import token_service

T = TypeVar("T")


class ScopeChoice(StrEnum):
    read = "read"
    write = "write"
    admin = "admin"


class KindChoice(StrEnum):
    factory = "factory"
    user = "user"
    service = "service"


class NoActiveToken(Refused):
    """The token is revoked already (exit 1: nothing wrong with the input)."""


tokens_app = typer.Typer(
    help=(
        "API tokens. Each maps to an actor (a factory, user or service) and scopes: "
        "read < write < admin. Requests send it as `Authorization: Bearer <token>`."
    ),
    no_args_is_help=True,
)


def _with_tokens(work: Callable[[TokenService], Awaitable[T]]) -> T:
    config = settings()

    async def go() -> T:
        async with token_service(config) as service:
            return await work(service)

    return run_command(go)


@tokens_app.command("create")
def create(
    actor: Annotated[
        str, typer.Option(help="Who the token acts as, recorded on every event, e.g. ui-factory.")
    ],
    kind: Annotated[KindChoice, typer.Option(help="What the actor is.")] = KindChoice.factory,
    scope: Annotated[
        list[ScopeChoice] | None,
        typer.Option(help="read, write or admin (repeatable). Default: write."),
    ] = None,
    name: Annotated[str, typer.Option(help="A label for `tokens list`.")] = "",
) -> None:
    """Issue a token and print it once; only its hash is stored."""
    scopes = cast(list[Scope], [s.value for s in scope or [ScopeChoice.write]])
    actor_kind: ActorKind = kind.value
    issued: IssuedToken = _with_tokens(
        lambda service: service.issue(
            actor=actor, kind=actor_kind, scopes=scopes, name=name, now=datetime.now(UTC)
        )
    )
    typer.echo(f"token {issued.info.id} for {actor} ({', '.join(issued.info.scopes)}):", err=True)
    typer.echo(issued.secret)
    typer.echo("Store it now: it cannot be shown again.", err=True)


@tokens_app.command("list")
def list_tokens(
    all_: Annotated[bool, typer.Option("--all", help="Include revoked tokens.")] = False,
) -> None:
    """List tokens (never their secrets); the short ids it prints work with `tokens revoke`."""
    tokens = _with_tokens(lambda service: service.list(include_revoked=all_))
    if not tokens:
        typer.echo("no tokens; create one with `vibehq tokens create --actor NAME`")
        return
    header = f"{'ID':8}  {'NAME':16} {'ACTOR':20} {'KIND':8} {'SCOPES':18} {'CREATED':20}"
    typer.echo(f"{header} STATE")
    for info in tokens:
        state = f"revoked {info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "active"
        typer.echo(
            f"{short(info.id)}  {info.name or '-':16} {info.actor:20} {info.kind:8} "
            f"{','.join(info.scopes):18} {info.created_at:%Y-%m-%d %H:%M:%S}  {state}"
        )


@tokens_app.command("revoke")
def revoke(
    token_id: Annotated[
        str, typer.Argument(help="The token's id from `tokens list`, or its start.")
    ],
) -> None:
    """Revoke a token; servers stop accepting it within seconds."""
    low, high = parsed(lambda: id_range(token_id))

    async def revoke_one(service: TokenService) -> UUID:
        known = [info.id for info in await service.list(include_revoked=True)]
        target = chosen("token", token_id, [i for i in known if low <= i <= high])
        if not await service.revoke(target, datetime.now(UTC)):
            raise NoActiveToken(f"no active token with id {target} (it is revoked already)")
        return target

    typer.echo(f"revoked {_with_tokens(revoke_one)}")


async def ensure_dev_token(service: TokenService, folder: Path) -> str:
    """The local admin token of an embedded instance, kept in `<data folder>/dev-token`."""
    path = folder / "dev-token"
    secret = await asyncio.to_thread(_read_secret, path)
    if secret and await service.authenticate(secret) is not None:
        return secret
    issued = await service.issue(
        actor="local-admin",
        kind="user",
        scopes=["admin"],
        name="dev-token",
        now=datetime.now(UTC),
    )
    await asyncio.to_thread(_write_secret, path, issued.secret)
    return issued.secret


def _read_secret(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


def _write_secret(path: Path, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(secret + "\n")
