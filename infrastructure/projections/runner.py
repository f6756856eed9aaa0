"""Keeps one projection's read model following the global log, exactly once.

Each batch of events and the checkpoint that follows it commit in one transaction on
the connection that holds the projection's lease, so a crash at any point either
keeps a batch whole or loses it whole, and the next runner continues from the
checkpoint. Waking, leases and failover are `LeasedFollower`'s.
"""

from __future__ import annotations

import logging

from application.ports import EventStore, RecordedEvent
from infrastructure.faults import crash_point
from infrastructure.log_follower import LeasedFollower
from infrastructure.pool import DbConnection
from infrastructure.projections.checkpoints import advance, lock_position
from infrastructure.projections.model import Projection, create_tables
from infrastructure.projections.rebuild import rebuild

log = logging.getLogger(__name__)


class ProjectionRunner(LeasedFollower):
    def __init__(
        self,
        *,
        dsn: str,
        store: EventStore,
        projection: Projection,
        batch_size: int = 500,
        poll_interval: float = 0.5,
        lease_retry: float = 1.0,
        linger: float = 0.0,
    ) -> None:
        super().__init__(
            name=projection.name,
            dsn=dsn,
            store=store,
            batch_size=batch_size,
            poll_interval=poll_interval,
            lease_retry=lease_retry,
            linger=linger,
        )
        self._projection = projection

    async def _prepare(self, conn: DbConnection, model_version: int) -> None:
        await create_tables(conn, self._projection)
        if model_version != self._projection.version:
            log.info(
                "projection %s: model version %d -> %d, rebuilding",
                self.name,
                model_version,
                self._projection.version,
            )
            await rebuild(dsn=self._dsn, store=self._store, projection=self._projection)

    async def _handle(self, conn: DbConnection, events: list[RecordedEvent]) -> int:
        async with conn.transaction():
            # The row lock orders us with a rebuild's swap, which may have moved the
            # checkpoint on: skip what the swapped-in model already holds.
            current = await lock_position(conn, self.name)
            fresh = [event for event in events if event.position > current]
            if fresh:
                await self._projection.apply(conn, fresh)
                crash_point("projection.before-commit")
                last = fresh[-1]
                await advance(conn, self.name, last.position, len(fresh), last.recorded_at)
        return max(current, events[-1].position)
