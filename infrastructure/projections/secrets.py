"""The secret list: one row per secret, what `GET /secrets` and `vibehq secrets list`
show. Metadata only (the events hold no value): kind, owner, how many versions and
grants, when it last changed, whether it was shredded. Times are the events' own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import asyncpg

from application.event_codec import EventCodec, event_types
from application.pages import decode_cursor, encode_cursor
from application.ports import RecordedEvent
from domain.contracts import SecretPage, SecretSummary
from domain.secrets import Secret
from infrastructure.pool import DbConnection
from infrastructure.projections.checkpoints import model_position

_CODEC: Final = EventCodec()
_READS: Final = event_types(
    Secret.Created, Secret.VersionAdded, Secret.GrantAdded, Secret.GrantRevoked, Secret.Shredded
)

_CREATE: Final = """
INSERT INTO secrets (id, name, kind, owner, created_at, changed_at)
VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (id) DO NOTHING
"""
_VERSION: Final = """
UPDATE secrets SET versions = versions + 1, changed_at = greatest(changed_at, $2)
WHERE id = $1
"""
_GRANT: Final = """
INSERT INTO secret_grants (secret_id, principal) VALUES ($1, $2) ON CONFLICT DO NOTHING
"""
_REVOKE: Final = "DELETE FROM secret_grants WHERE secret_id = $1 AND principal = $2"
_SHRED: Final = """
UPDATE secrets SET shredded = true, changed_at = greatest(changed_at, $2) WHERE id = $1
"""


class SecretListProjection:
    name = "secrets"
    version = 1
    tables = ("secrets", "secret_grants")
    ddl = (
        """CREATE TABLE IF NOT EXISTS secrets (
            id uuid PRIMARY KEY, name text NOT NULL UNIQUE, kind text NOT NULL,
            owner text NOT NULL, created_at timestamptz NOT NULL,
            changed_at timestamptz NOT NULL, versions integer NOT NULL DEFAULT 0,
            shredded boolean NOT NULL DEFAULT false)""",
        "CREATE INDEX IF NOT EXISTS secrets_by_owner ON secrets (owner, name)",
        """CREATE TABLE IF NOT EXISTS secret_grants (
            secret_id uuid NOT NULL, principal text NOT NULL,
            PRIMARY KEY (secret_id, principal))""",
    )

    async def apply(self, conn: DbConnection, events: Sequence[RecordedEvent]) -> None:
        # Few and rare (people change secrets, machines read them): a statement each.
        for record in events:
            if record.event_type not in _READS:
                continue
            event = _CODEC.decode(record)
            at = record.recorded_at
            if isinstance(event, Secret.Created):
                await conn.execute(
                    _CREATE, record.stream_id, event.name, event.kind, event.owner, at
                )
            elif isinstance(event, Secret.VersionAdded):
                await conn.execute(_VERSION, record.stream_id, at)
            elif isinstance(event, Secret.GrantAdded):
                await conn.execute(_GRANT, record.stream_id, event.principal)
            elif isinstance(event, Secret.GrantRevoked):
                await conn.execute(_REVOKE, record.stream_id, event.principal)
            elif isinstance(event, Secret.Shredded):
                await conn.execute(_SHRED, record.stream_id, at)


_PAGE: Final = """
SELECT s.name, s.kind, s.owner, s.created_at, s.changed_at, s.versions, s.shredded,
       (SELECT count(*) FROM vibehq_read.secret_grants g WHERE g.secret_id = s.id) AS grants
FROM vibehq_read.secrets s
WHERE ($1::text IS NULL OR s.owner = $1) AND ($2::text IS NULL OR s.name > $2)
ORDER BY s.name LIMIT $3
"""


class PostgresSecretList:
    """Implements `application.read_models.SecretList`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def page(self, *, limit: int, cursor: str | None, visible_to: str | None) -> SecretPage:
        after = decode_cursor(cursor, tuple[str])[0] if cursor else None
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            rows = await conn.fetch(_PAGE, visible_to, after, limit + 1)
            position = await model_position(conn, SecretListProjection.name)
        items = [SecretSummary(**dict(row)) for row in rows[:limit]]
        more = len(rows) > limit
        return SecretPage(
            items=items,
            next_cursor=encode_cursor(items[-1].name) if more else None,
            as_of_position=position,
        )
