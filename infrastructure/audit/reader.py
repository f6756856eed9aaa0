"""Rows for `application.audit.LogVerifier`, straight from the tables (no caches)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final
from uuid import UUID

import asyncpg

from application.audit import ZERO_HASH, AuditRow, Checkpoint
from infrastructure.event_store.log_queries import in_index_order
from infrastructure.event_store.rows import COLUMNS, record_of
from infrastructure.pool import DbConnection

#: The range's events in position order, each with its stream predecessor (one probe
#: of the (stream, version) key, so a range costs the range, not the log).
_EVENTS: Final = f"""
SELECT p.originator_version AS stream_prev_version, p.hash AS stream_prev_hash, {
    ", ".join(f"e.{column.strip()}" for column in COLUMNS.split(","))
}
FROM vibehq_events e
LEFT JOIN LATERAL (
    SELECT originator_version, hash FROM vibehq_events
    WHERE originator_id = e.originator_id AND originator_version < e.originator_version
    ORDER BY originator_version DESC LIMIT 1
) p ON true
WHERE e.notification_id > $1 AND e.notification_id <= $2
  AND ($3::uuid IS NULL OR e.originator_id = $3)
ORDER BY e.notification_id LIMIT $4
"""

_LINKS: Final = (
    "SELECT position, event_hash, log_hash FROM vibehq_log_chain "
    "WHERE position > $1 AND position <= $2 ORDER BY position LIMIT $3"
)
#: Rows a page: each page is read through its index in order (a cursor over the whole
#: range let the planner pick a scan of the table and a sort of all of it instead).
_PAGE: Final = 2000


async def audit_rows(
    conn: DbConnection, *, first: int, last: int, stream: UUID | None
) -> AsyncIterator[AuditRow]:
    """Every position in [first, last] that has an event or a chain link, in order.

    The events and the chain are read a page at a time, each in its index's order, and
    merged here: a join of the two had PostgreSQL sort the whole range (a gigabyte of
    temporary file per million events) before the first row.
    """
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await in_index_order(conn)
        events = aiter(_pages(conn, _EVENTS, "notification_id", first, last, stream))
        links = aiter(_pages(conn, _LINKS, "position", first, last) if stream is None else _no())
        event, link = await anext(events, None), await anext(links, None)
        while event is not None or link is not None:
            at_event = None if event is None else int(event["notification_id"])
            at_link = None if link is None else int(link["position"])
            position = min(at for at in (at_event, at_link) if at is not None)
            here = event if at_event == position else None
            linked = link if at_link == position else None
            yield _row(position, here, linked)
            if here is not None:
                event = await anext(events, None)
            if linked is not None:
                link = await anext(links, None)


def _row(position: int, event: asyncpg.Record | None, link: asyncpg.Record | None) -> AuditRow:
    return AuditRow(
        position=position,
        event=None if event is None else record_of(event, offset=2),
        stream_prev_version=None if event is None else event["stream_prev_version"],
        stream_prev_hash=None if event is None else event["stream_prev_hash"],
        chained_hash=None if link is None else link["event_hash"],
        log_hash=None if link is None else link["log_hash"],
    )


async def _pages(
    conn: DbConnection, query: str, key: str, first: int, last: int, *args: object
) -> AsyncIterator[asyncpg.Record]:
    """`query`'s rows with `key` in [first, last], in order, a page at a time."""
    after = first - 1
    while True:
        page = await conn.fetch(query, after, last, *args, _PAGE)
        full = len(page) == _PAGE
        if page:
            after = page[-1][key]
        for row in page:
            yield row
        del page  # gone before the next one comes: one page held at a time
        if not full:
            return


async def _no() -> AsyncIterator[asyncpg.Record]:
    return
    yield


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
