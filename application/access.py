"""API tokens: who is calling, and what they may do.

A token is shown once, at creation; only its SHA-256 is stored. Plain SHA-256 is
enough because tokens are 256 random bits, not passwords a dictionary could guess.
Scopes nest: `admin` implies `write` implies `read`.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Final, Protocol
from uuid import UUID, uuid4

from msgspec import Struct

from application.aggregates import CommandContext
from domain.contracts import ActorKind, Scope, TokenInfo
from domain.errors import Forbidden

TOKEN_PREFIX: Final = "vhq_"  # noqa: S105 - a public prefix, not a secret
_RANK: Final[dict[str, int]] = {"read": 1, "write": 2, "admin": 3}


class Principal(Struct, frozen=True):
    """The caller of one request, as recorded on the events it causes."""

    actor: str
    kind: ActorKind
    scopes: frozenset[str]
    token_id: UUID | None = None

    def may(self, scope: Scope) -> bool:
        return any(_RANK[held] >= _RANK[scope] for held in self.scopes)


__all__ = ["ActorKind", "IssuedToken", "Principal", "Scope", "TokenInfo", "TokenService"]


class IssuedToken(Struct, frozen=True):
    info: TokenInfo
    secret: str


class TokenStore(Protocol):
    async def add(self, info: TokenInfo, secret_hash: bytes) -> None: ...

    async def find_active(self, secret_hash: bytes) -> TokenInfo | None: ...

    async def list(self, *, include_revoked: bool = False) -> list[TokenInfo]: ...

    async def revoke(self, token_id: UUID, at: datetime) -> bool: ...


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def principal_of(info: TokenInfo) -> Principal:
    return Principal(info.actor, info.kind, frozenset(info.scopes), info.id)


class TokenService:
    def __init__(self, tokens: TokenStore) -> None:
        self._tokens = tokens

    async def issue(
        self, *, actor: str, kind: ActorKind, scopes: list[Scope], name: str, now: datetime
    ) -> IssuedToken:
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        info = TokenInfo(uuid4(), name or actor, actor, kind, sorted(set(scopes)), now)
        await self._tokens.add(info, hash_secret(secret))
        return IssuedToken(info, secret)

    async def authenticate(self, secret: str) -> Principal | None:
        if not secret.startswith(TOKEN_PREFIX):
            return None
        info = await self._tokens.find_active(hash_secret(secret))
        return principal_of(info) if info else None

    async def list(self, *, include_revoked: bool = False) -> list[TokenInfo]:
        return await self._tokens.list(include_revoked=include_revoked)

    async def revoke(self, token_id: UUID, now: datetime) -> bool:
        return await self._tokens.revoke(token_id, now)


class ActingAsAnother(Forbidden):
    """A body named an actor other than the token's: facts are recorded as the token's."""

    def __init__(self, field: str, claimed: str, actor: str) -> None:
        super().__init__(
            f"{field} {claimed!r} is not you: this token acts as {actor!r}; leave {field} out "
            "or send your own name (every recorded fact is the token's actor's)"
        )
        self.field = field


class DenialLog(Protocol):
    """Where refused attempts go, so that an auditor sees them (OpsService records them)."""

    async def denied(self, context: CommandContext, action: str, detail: str) -> None: ...


async def own_name(
    claimed: str | None,
    context: CommandContext,
    *,
    field: str,
    action: str,
    denials: DenialLog | None,
) -> str:
    """The name a command records: the token's actor. Claiming another is refused and
    the attempt recorded."""
    if claimed is None or claimed == context.actor:
        return context.actor
    refusal = ActingAsAnother(field, claimed, context.actor)
    if denials is not None:
        await denials.denied(context, action, str(refusal))
    raise refusal
