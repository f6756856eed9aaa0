"""The event store's reading side: gap-free global order, waking readers, immutability.

Properties 4 and 7 of DESIGN.md ("Event store properties"), on real PostgreSQL; the
writing side is in test_event_store.py.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from application.ports import AppendRequest
from infrastructure.event_store.postgres_store import PostgresEventStore, read_all
from tests.factories import append_request

# --- gap-free global order ---------------------------------------------------------------


async def _append_uncommitted(conn: asyncpg.Connection, request: AppendRequest) -> None:
    """Start a transaction that appends and keeps it open."""
    await conn.execute("BEGIN")
    await conn.fetchrow(
        "SELECT * FROM vibehq_append("
        "$1,$2,$3,NULL,''::bytea,$4,$5,$6,$7,$8,$9,NULL,$10,NULL,NULL,NULL)",
        request.stream_id,
        request.stream_type,
        0,
        [e.event_id for e in request.events],
        [e.event_type for e in request.events],
        [1 for _ in request.events],
        [e.topic for e in request.events],
        [e.state for e in request.events],
        request.correlation_id,
        request.actor,
    )


@pytest.mark.parametrize("slow_writer_ends_with", ["COMMIT", "ROLLBACK"])
async def test_a_reader_never_passes_a_transaction_that_may_still_commit(
    store: PostgresEventStore, database_url: str, slow_writer_ends_with: str
) -> None:
    slow = await asyncpg.connect(database_url)
    try:
        slow_request = append_request()
        await _append_uncommitted(slow, slow_request)  # older transaction, still open
        fast = await store.append(append_request())  # younger transaction, committed

        # The committed event sorts after the open one, so it must be held back.
        assert await store.read_log() == []
        assert not await store.wait_for_events(after_position=0, timeout=0.3)

        await slow.execute(slow_writer_ends_with)
        assert await store.wait_for_events(after_position=0, timeout=5)
        seen = [e.stream_id for e in await store.read_log()]
    finally:
        await slow.close()

    if slow_writer_ends_with == "COMMIT":
        assert seen == [slow_request.stream_id, fast.stream_id]
    else:
        assert seen == [fast.stream_id]


async def test_wait_for_events_wakes_on_a_commit_from_another_process(
    store: PostgresEventStore, database_url: str
) -> None:
    other_pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    other = PostgresEventStore(other_pool, dsn=database_url, poll_interval=30)
    await other.start()
    # The waiting store polls only every 30 s, so waking up fast proves NOTIFY works.
    waiting_store = PostgresEventStore(other_pool, dsn=database_url, poll_interval=30)
    await waiting_store.start()
    try:
        waiter = asyncio.create_task(waiting_store.wait_for_events(after_position=0, timeout=10))
        await asyncio.sleep(0.2)
        assert not waiter.done()
        await store.append(append_request())
        assert await asyncio.wait_for(waiter, 5)
    finally:
        await waiting_store.close()
        await other.close()
        await other_pool.close()


async def test_wait_for_events_times_out_when_nothing_arrives(store: PostgresEventStore) -> None:
    assert not await store.wait_for_events(after_position=0, timeout=0.2)


# --- immutability and the position clock ---------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE vibehq_events SET actor = 'mallory'",
        "DELETE FROM vibehq_events",
        "TRUNCATE vibehq_events",
    ],
)
async def test_stored_events_cannot_be_changed(
    store: PostgresEventStore, pool: asyncpg.Pool, statement: str
) -> None:
    await store.append(append_request())

    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await pool.execute(statement)
    assert (await read_all(store))[0].actor == "factory:test"


async def test_positions_keep_growing_after_events_from_a_later_clock_are_imported(
    store: PostgresEventStore, pool: asyncpg.Pool
) -> None:
    imported_position = 1 << 50  # as if exported from a much older cluster
    await pool.execute(
        "INSERT INTO vibehq_events (originator_id, originator_version, topic, state, "
        "notification_id, event_id, stream_type, event_type, schema_version, recorded_at, "
        "correlation_id, actor, prev_hash, hash) "
        "VALUES ($1, 1, 't', '{}', $2, $3, 'S', 'E', 1, now(), $4, 'x', $5, $5)",
        uuid.uuid4(),
        imported_position,
        uuid.uuid4(),
        uuid.uuid4(),
        bytes(32),
    )
    await pool.execute("SELECT vibehq_raise_position_floor()")

    result = await store.append(append_request())

    assert result.first_position > imported_position
    assert [e.position for e in await read_all(store)] == [imported_position, result.first_position]


async def test_concurrent_identical_log_reads_share_one_query(
    store: PostgresEventStore, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.append(append_request(count=2))
    queries = 0
    fetch = asyncpg.Pool.fetch

    async def counting_fetch(self: asyncpg.Pool, *args: object) -> list[asyncpg.Record]:
        nonlocal queries
        queries += 1
        return await fetch(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncpg.Pool, "fetch", counting_fetch)
    four = await asyncio.gather(*(store.read_log(after_position=0) for _ in range(4)))
    assert queries == 1
    assert all(len(batch) == 2 and batch == four[0] for batch in four)
    four[0].clear()  # each reader owns its list
    assert len(four[1]) == 2
    await store.read_log(after_position=0)  # a later call queries afresh
    assert queries == 2
