"""Rebuilding a projection while it runs and while readers read: never half-built."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import pytest

from infrastructure.event_store.postgres_store import PostgresEventStore
from infrastructure.projections.delivery import DeliveryProjection
from infrastructure.projections.rebuild import rebuild
from infrastructure.projections.runner import ProjectionRunner
from tests.integration.followers import live, rebuilt_from_scratch, running, wait_caught_up
from tests.integration.workload import record_workload

pytestmark = pytest.mark.timeout(120)

TOTALS = "SELECT count(*), coalesce(sum(patches_applied), 0) FROM vibehq_read.delivery_reports"


async def test_readers_see_the_old_model_or_the_whole_new_one(
    database_url: str, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    projection = DeliveryProjection()
    runner = ProjectionRunner(
        dsn=database_url, store=store, projection=projection, batch_size=25, poll_interval=0.1
    )
    async with running(runner):
        await record_workload(store, pool, rounds=15)
        await wait_caught_up(pool, store, names=("delivery",))
        expected = tuple(await pool.fetchrow(TOTALS))
        seen: list[tuple[int, int]] = []

        async def read_continuously() -> None:
            while True:
                seen.append(tuple(await pool.fetchrow(TOTALS)))
                await asyncio.sleep(0)

        reader = asyncio.create_task(read_continuously())
        progress: list[tuple[int, int]] = []
        await rebuild(
            dsn=database_url,
            store=store,
            projection=projection,
            progress=lambda done, total: progress.append((done, total)),
        )
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        assert len(seen) > 10
        assert set(seen) == {expected}  # never empty, never partial, no errors
        assert progress[-1][0] == progress[-1][1] > 100

        # The runner carries on over the swapped-in tables, and commands keep coming.
        await record_workload(store, pool, rounds=5, seed=3)
        await wait_caught_up(pool, store, names=("delivery",))
        assert await live(database_url, projection) == await rebuilt_from_scratch(
            database_url, store, projection
        )


async def test_a_rebuild_during_live_writes_continues_exactly_where_the_runner_was(
    database_url: str, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    projection = DeliveryProjection()
    runner = ProjectionRunner(
        dsn=database_url, store=store, projection=projection, batch_size=10, poll_interval=0.05
    )
    async with running(runner):
        await record_workload(store, pool, rounds=5)
        writes = asyncio.create_task(record_workload(store, pool, rounds=10, seed=11))
        await rebuild(dsn=database_url, store=store, projection=projection)
        await writes
        await wait_caught_up(pool, store, names=("delivery",))
        assert await live(database_url, projection) == await rebuilt_from_scratch(
            database_url, store, projection
        )
        version = await pool.fetchval(
            "SELECT model_version FROM vibehq_checkpoints WHERE name = 'delivery'"
        )
        assert version == projection.version
