"""The service's pool skips asyncpg's server-side reset; nothing a borrower did leaks."""

from __future__ import annotations

import uuid

import asyncpg

from application.ports import AppendRequest, NewEvent
from infrastructure.event_store.postgres_store import PostgresEventStore


async def test_a_connection_comes_back_without_the_last_borrowers_state(
    pool: asyncpg.Pool,
) -> None:
    assert pool.get_max_size() == 20
    async with pool.acquire() as conn:
        backend = conn.get_server_pid()
        # The append's transaction-local counter, inside a committed transaction...
        async with conn.transaction():
            await conn.execute("SELECT set_config('vibehq.events_in_tx', '7', true)")
        # ...and a transaction someone forgot to finish.
        await conn.execute("BEGIN")
        await conn.execute("CREATE TEMP TABLE forgotten (x int) ON COMMIT DROP")
    async with pool.acquire() as conn:
        assert conn.get_server_pid() == backend  # the same connection, reused
        assert await conn.fetchval("SELECT current_setting('vibehq.events_in_tx', true)") in (
            "",
            None,
        )
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT to_regclass('pg_temp.forgotten')") is None


async def test_appends_on_reused_connections_each_start_at_index_zero(pool: asyncpg.Pool) -> None:
    store = PostgresEventStore(pool)
    positions = []
    for _ in range(5):
        result = await store.append(
            AppendRequest(
                stream_id=uuid.uuid4(),
                stream_type="T",
                expected_version=0,
                events=[NewEvent(uuid.uuid4(), "E", 1, "t:E", b"{}")],
                actor="a",
                correlation_id=uuid.uuid4(),
            )
        )
        positions.append(result.first_position)
    assert all(position & 0xFFFF == 0 for position in positions)
