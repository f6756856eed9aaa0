"""API tokens in PostgreSQL (see migrations/0002); only hashes of secrets are stored."""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import UUID

import asyncpg

from application.access import TokenInfo

_COLUMNS: Final = "id, name, actor, kind, scopes, created_at, revoked_at, last_used_at"


def _info(row: asyncpg.Record) -> TokenInfo:
    return TokenInfo(
        id=row["id"],
        name=row["name"],
        actor=row["actor"],
        kind=row["kind"],
        scopes=list(row["scopes"]),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


class PostgresTokenStore:
    """Implements `application.access.TokenStore`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def add(self, info: TokenInfo, secret_hash: bytes) -> None:
        await self._pool.execute(
            "INSERT INTO vibehq_tokens (id, name, actor, kind, scopes, secret_hash, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            info.id,
            info.name,
            info.actor,
            info.kind,
            list(info.scopes),
            secret_hash,
            info.created_at,
        )

    async def find_active(self, secret_hash: bytes) -> TokenInfo | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM vibehq_tokens WHERE secret_hash = $1 AND revoked_at IS NULL",
            secret_hash,
        )
        if row is None:
            return None
        # Coarse "last used", so that busy tokens do not turn every request into a write.
        await self._pool.execute(
            "UPDATE vibehq_tokens SET last_used_at = now() WHERE id = $1 "
            "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
            row["id"],
        )
        return _info(row)

    async def list(self, *, include_revoked: bool = False) -> list[TokenInfo]:
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM vibehq_tokens "
            "WHERE $1 OR revoked_at IS NULL ORDER BY created_at",
            include_revoked,
        )
        return [_info(row) for row in rows]

    async def revoke(self, token_id: UUID, at: datetime) -> bool:
        status: str = await self._pool.execute(
            "UPDATE vibehq_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            token_id,
            at,
        )
        return status.endswith(" 1")
