"""A follower's linger: no wait for the first event after a quiet spell, and the events
that arrive while it lingers share one batch (one transaction, one checkpoint)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from application.ports import RecordedEvent
from infrastructure.event_store.postgres_store import PostgresEventStore
from infrastructure.log_follower import LeasedFollower
from tests.factories import append_request

pytestmark = pytest.mark.timeout(60)

LINGER = 0.5


class BatchRecorder(LeasedFollower):
    """Records each batch it is handed, and when."""

    def __init__(self, *, dsn: str, store: PostgresEventStore, linger: float) -> None:
        super().__init__(
            name="linger-test", dsn=dsn, store=store, poll_interval=0.05, linger=linger
        )
        self.batches: list[tuple[float, list[int]]] = []

    async def _prepare(self, conn: asyncpg.Connection, model_version: int) -> None:
        return None

    async def _handle(self, conn: asyncpg.Connection, events: list[RecordedEvent]) -> int:
        self.batches.append((asyncio.get_running_loop().time(), [e.position for e in events]))
        return events[-1].position


async def _handled(follower: BatchRecorder, position: int) -> float:
    """When the batch holding `position` was handed over."""
    for _ in range(200):
        for at, positions in follower.batches:
            if position in positions:
                return at
        await asyncio.sleep(0.02)
    raise AssertionError(f"position {position} never handled: {follower.batches}")


async def test_first_event_goes_at_once_and_the_next_ones_gather(
    database_url: str, store: PostgresEventStore
) -> None:
    follower = BatchRecorder(dsn=database_url, store=store, linger=LINGER)
    stop = asyncio.Event()
    running = asyncio.create_task(follower.run(stop))
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(follower.active.wait(), 10)
        sent = loop.time()
        first = (await store.append(append_request())).last_position
        first_at = await _handled(follower, first)
        assert first_at - sent < LINGER / 2, "the first event after a quiet spell waited"

        later = [(await store.append(append_request())).last_position for _ in range(3)]
        later_at = await _handled(follower, later[0])
        assert later_at - first_at >= LINGER * 0.95, "the next batch did not linger"
        assert [positions for _, positions in follower.batches] == [[first], later]
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)


async def test_without_linger_each_wake_up_is_handled_at_once(
    database_url: str, store: PostgresEventStore
) -> None:
    follower = BatchRecorder(dsn=database_url, store=store, linger=0.0)
    stop = asyncio.Event()
    running = asyncio.create_task(follower.run(stop))
    try:
        await asyncio.wait_for(follower.active.wait(), 10)
        first = (await store.append(append_request())).last_position
        first_at = await _handled(follower, first)
        second = (await store.append(append_request())).last_position
        assert await _handled(follower, second) - first_at < LINGER / 2
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
