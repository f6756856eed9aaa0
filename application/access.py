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

from domain.contracts import ActorKind, Scope, TokenInfo

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
