"""Rows for `application.audit.LogVerifier`, straight from the tables (no caches)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final
from uuid import UUID

from application.audit import ZERO_HASH, AuditRow, Checkpoint
from infrastructure.event_store.rows import COLUMNS, record_of
from infrastructure.pool import DbConnection

#: Only the range is read: each event's stream predecessor is one probe of the
#: (stream, version) key, so verifying a range costs the range, not the log.
_ROWS: Final = f"""
SELECT coalesce(e.notification_id, c.position) AS at, e.present,
       p.originator_version AS stream_prev_version, p.hash AS stream_prev_hash,
       c.event_hash AS chained_hash, c.log_hash, {
    ", ".join(f"e.{column.strip()}" for column in COLUMNS.split(","))
}
FROM (
    SELECT *, true AS present FROM vibehq_events
    WHERE notification_id BETWEEN $1 AND $2 AND ($3::uuid IS NULL OR originator_id = $3)
) e
FULL JOIN (
    SELECT * FROM vibehq_log_chain WHERE $3::uuid IS NULL AND position BETWEEN $1 AND $2
) c ON c.position = e.notification_id
LEFT JOIN LATERAL (
    SELECT originator_version, hash FROM vibehq_events
    WHERE originator_id = e.originator_id AND originator_version < e.originator_version
    ORDER BY originator_version DESC LIMIT 1
) p ON true
ORDER BY at
"""


async def audit_rows(
    conn: DbConnection, *, first: int, last: int, stream: UUID | None
) -> AsyncIterator[AuditRow]:
    """Every position in [first, last] that has an event or a chain link, in order."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for row in conn.cursor(_ROWS, first, last, stream, prefetch=2000):
            yield AuditRow(
                position=row["at"],
                event=record_of(row, offset=6) if row["present"] else None,
                stream_prev_version=row["stream_prev_version"],
                stream_prev_hash=row["stream_prev_hash"],
                chained_hash=row["chained_hash"],
                log_hash=row["log_hash"],
            )


async def log_hash_before(conn: DbConnection, position: int) -> bytes:
    found: bytes | None = await conn.fetchval(
        "SELECT log_hash FROM vibehq_log_chain WHERE position < $1 ORDER BY position DESC LIMIT 1",
        position,
    )
    return found or ZERO_HASH


async def chain_hash_at(conn: DbConnection, position: int) -> bytes | None:
    """The global chain's hash at `position` as the database holds it now."""
    found: bytes | None = await conn.fetchval(
        "SELECT log_hash FROM vibehq_log_chain WHERE position = $1", position
    )
    return found


async def chain_head(conn: DbConnection) -> int:
    head: int = await conn.fetchval("SELECT coalesce(max(position), 0) FROM vibehq_log_chain")
    return head


async def checkpoint_pages(
    conn: DbConnection, *, first: int, last: int, page: int = 1000
) -> AsyncIterator[Checkpoint]:
    """The signed checkpoints in [first, last] in order, a page at a time."""
    after = first - 1
    while True:
        rows = await conn.fetch(
            "SELECT to_position, events, log_hash, public_key, signature "
            "FROM vibehq_log_checkpoints WHERE to_position > $1 AND to_position <= $2 "
            "ORDER BY to_position LIMIT $3",
            after,
            last,
            page,
        )
        for row in rows:
            yield Checkpoint(**dict(row))
        if len(rows) < page:
            return
        after = rows[-1]["to_position"]
