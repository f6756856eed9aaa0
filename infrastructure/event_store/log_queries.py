"""Questions about the whole log that commands ask before they read it.

Where its head is, whether a stream exists, how many events a range holds (for a
progress bar), and which position a moment corresponds to. The CLI asks them through
these functions, so its modules hold no SQL. And one way for whole-log readers to
read in index order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import UUID

from infrastructure.pool import DbConnection

_HEAD: Final = "SELECT coalesce(max(notification_id), 0) FROM vibehq_events"
#: A deleted last event still has its link in the global chain: verify reads up to it.
_CHAINED_HEAD: Final = """
SELECT greatest((SELECT coalesce(max(notification_id), 0) FROM vibehq_events),
                (SELECT coalesce(max(position), 0) FROM vibehq_log_chain))
"""
_STREAM_EXISTS: Final = "SELECT EXISTS (SELECT 1 FROM vibehq_events WHERE originator_id = $1)"
_COUNT_RANGE: Final = """
SELECT count(*) FROM vibehq_events WHERE notification_id BETWEEN $1 AND $2
AND ($3::uuid IS NULL OR originator_id = $3)
"""
#: Only what every reader can already see (below the watermark), never an in-flight gap.
_POSITION_AT: Final = """
SELECT coalesce(max(notification_id), 0) FROM vibehq_events
WHERE recorded_at <= $1 AND notification_id < vibehq_watermark()
"""


async def log_head(conn: DbConnection, *, with_chain: bool = False) -> int:
    """The last position of the log (`with_chain`: or of its chain, if that is later)."""
    head: int = await conn.fetchval(_CHAINED_HEAD if with_chain else _HEAD)
    return head


async def stream_exists(conn: DbConnection, stream: UUID) -> bool:
    exists: bool = await conn.fetchval(_STREAM_EXISTS, stream)
    return exists


async def count_events(conn: DbConnection, *, first: int, last: int, stream: UUID | None) -> int:
    """Events at positions `first`..`last` (of one stream, if given)."""
    count: int = await conn.fetchval(_COUNT_RANGE, first, last, stream)
    return count


async def position_at(conn: DbConnection, moment: datetime) -> int:
    """The last position recorded at or before `moment` (0 before the first event)."""
    position: int = await conn.fetchval(_POSITION_AT, moment)
    return position


_STREAMS_BETWEEN: Final = """
SELECT originator_id FROM vibehq_events
WHERE originator_id BETWEEN $1 AND $2 AND originator_version = 1
  AND ($3::text IS NULL OR stream_type = $3)
ORDER BY originator_id LIMIT $4
"""


async def streams_between(
    conn: DbConnection, low: UUID, high: UUID, *, stream_type: str | None, limit: int
) -> list[UUID]:
    """Stream ids in [low, high] (of one type, if given): a short id prefix's candidates.

    A range over the primary key's first column, so it costs an index probe whatever
    the log's length.
    """
    rows = await conn.fetch(_STREAMS_BETWEEN, low, high, stream_type, limit)
    return [row["originator_id"] for row in rows]


async def in_index_order(conn: DbConnection) -> None:
    """For the rest of `conn`'s transaction, read through the indexes in their order,
    whatever the statistics say. A whole-log reader (verify, export) otherwise gets a
    sort of its whole range, written to a temporary file before the first row (1 GB per
    million events), or on a table never analysed, a sort of every remaining row per
    page."""
    await conn.execute("SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off")
