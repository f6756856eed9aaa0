"""Whole-log tools hold memory bounded by their page sizes, not by the log's length:
measured with tracemalloc on a log and on the same log six times longer."""

from __future__ import annotations

import asyncio
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from application.ports import AppendRequest, NewEvent
from infrastructure.audit.keys import public_bytes
from infrastructure.audit.notary import Notary
from infrastructure.audit.verify import verify_log
from infrastructure.event_store.postgres_store import PostgresEventStore
from tests.integration.followers import wait_caught_up

pytestmark = pytest.mark.timeout(180)

KEY = Ed25519PrivateKey.generate()
STATE = b'{"path":"src/app.py","lines_added":3,"lines_removed":1}'


async def _grow(store: PostgresEventStore, events: int) -> None:
    for _ in range(events // 100):
        await store.append(
            AppendRequest(
                stream_id=uuid.uuid4(),
                stream_type="Bench",
                expected_version=0,
                events=[
                    NewEvent(uuid.uuid4(), "Touched", 1, "bench:Touched", STATE) for _ in range(100)
                ],
                actor="bench",
                correlation_id=uuid.uuid4(),
            )
        )


async def _chain(database_url: str, store: PostgresEventStore, pool: asyncpg.Pool) -> None:
    """The audit follower chains and signs what was appended."""
    notary = Notary(dsn=database_url, store=store, key=KEY, every=500, seconds=0)
    stop = asyncio.Event()
    running = asyncio.create_task(notary.run(stop))
    await wait_caught_up(pool, store, names=("audit",))
    stop.set()
    await running


async def _peak_bytes(work: Callable[[], Awaitable[object]]) -> int:
    tracemalloc.start()
    try:
        await work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_verify_holds_the_same_memory_for_a_log_six_times_longer(
    database_url: str, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    async def verify() -> None:
        async with pool.acquire() as conn:
            problems, _ = await verify_log(conn, trusted_key=public_bytes(KEY))
        assert problems == []

    await _grow(store, 2_000)
    await _chain(database_url, store, pool)
    small = await _peak_bytes(verify)
    await _grow(store, 10_000)
    await _chain(database_url, store, pool)
    large = await _peak_bytes(verify)
    assert large < 1.3 * small, (small, large)
