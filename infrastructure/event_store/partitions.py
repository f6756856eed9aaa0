"""The event log partitioned by position (migration 0010, docs/scaling.md).

`partition_log` turns the plain table into a partitioned one on request; from then on
`add_partitions` keeps `AHEAD` partitions ready beyond the current range of
transactions: `migrate` calls it at every start and `PartitionKeeper` every minute in
the worker. A position beyond every partition lands in the default partition, so a
write never fails for want of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Final

import asyncpg

from infrastructure.outage import Outage
from infrastructure.pool import UNAVAILABLE, DbConnection, connect

log = logging.getLogger(__name__)

#: Partitions kept ready beyond the one that takes writes now.
AHEAD: Final = 2
#: Transactions per partition by default: 2**24 (16.8 M) transactions, a few GB of
#: events at one event per transaction.
TRANSACTIONS: Final = 1 << 24


@dataclass(frozen=True)
class Partition:
    name: str
    bounds: str
    rows: int
    bytes: int
    tablespace: str


async def is_partitioned(conn: DbConnection) -> bool:
    kind: str = await conn.fetchval(
        "SELECT relkind::text FROM pg_class WHERE oid = 'vibehq_events'::regclass"
    )
    return kind == "p"


async def partition_log(
    conn: DbConnection, *, transactions: int = TRANSACTIONS, ahead: int = AHEAD
) -> int:
    """Partition the log (one transaction); returns how many partitions it made."""
    async with conn.transaction():
        made: int = await conn.fetchval(
            "SELECT vibehq_partition_events($1, $2)", transactions, ahead
        )
    return made


async def add_partitions(conn: DbConnection, ahead: int = AHEAD) -> int:
    """Make the partitions due (none on a plain log); returns how many."""
    made: int = await conn.fetchval("SELECT vibehq_add_event_partitions($1)", ahead)
    if made:
        log.info("made %d event log partition(s) ahead", made)
        stray = await conn.fetchval("SELECT max(notification_id) FROM vibehq_events_default")
        if stray is not None:
            log.warning(
                "positions up to %d outran the partitions and stay in vibehq_events_default",
                stray,
            )
    return made


async def partitions(conn: DbConnection) -> list[Partition]:
    """The log's partitions in position order (empty on a plain log)."""
    rows = await conn.fetch(
        """
        SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bounds,
               greatest(c.reltuples, 0)::bigint AS rows,
               pg_total_relation_size(c.oid) AS bytes,
               coalesce(t.spcname, 'default') AS tablespace
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace
        WHERE i.inhparent = 'vibehq_events'::regclass
        ORDER BY c.relname = 'vibehq_events_default', c.relname
        """
    )
    return [Partition(**dict(row)) for row in rows]


class PartitionKeeper:
    """Keeps partitions ready ahead of the writers, every `every` seconds."""

    name = "partitions"

    def __init__(self, *, dsn: str, every: float = 60.0, ahead: int = AHEAD) -> None:
        self._dsn = dsn
        self._every = every
        self._ahead = ahead

    async def run(self, stop: asyncio.Event) -> None:
        outage = Outage(self.name, log)
        while not stop.is_set():
            try:
                conn = await connect(self._dsn)
                try:
                    await add_partitions(conn, self._ahead)
                finally:
                    await conn.close()
                outage.over()
            except (*UNAVAILABLE, asyncpg.PostgresError) as error:  # retried; said once
                outage.failed(error, self._every)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._every)
