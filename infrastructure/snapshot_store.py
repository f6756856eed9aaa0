"""Aggregate snapshots in PostgreSQL (see migrations/0002)."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from application.ports import StoredSnapshot


class PostgresSnapshotStore:
    """Implements `application.ports.SnapshotStore`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def latest(self, stream_id: UUID, *, at_most: int | None = None) -> StoredSnapshot | None:
        row = await self._pool.fetchrow(
            "SELECT version, topic, state FROM vibehq_snapshots "
            "WHERE stream_id = $1 AND ($2::bigint IS NULL OR version <= $2) "
            "ORDER BY version DESC LIMIT 1",
            stream_id,
            at_most,
        )
        if row is None:
            return None
        return StoredSnapshot(stream_id, row["version"], row["topic"], row["state"])

    async def save(self, snapshot: StoredSnapshot) -> None:
        await self._pool.execute(
            "INSERT INTO vibehq_snapshots (stream_id, version, topic, state) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            snapshot.stream_id,
            snapshot.version,
            snapshot.topic,
            snapshot.state,
        )
