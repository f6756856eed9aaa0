"""The event store's contract, proved against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import sys
import uuid

import asyncpg
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from application.ports import (
    AppendRequest,
    ConcurrencyConflict,
    IdempotencyKeyReused,
)
from infrastructure.event_store.postgres_store import PostgresEventStore
from tests.conftest import ROOT
from tests.factories import append_request, new_event


async def count_rows(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM vibehq_events")
    return count


# --- optimistic concurrency ------------------------------------------------------------


async def test_stale_expected_version_conflicts_and_writes_nothing(
    store: PostgresEventStore, pool: asyncpg.Pool
) -> None:
    first = await store.append(append_request(count=2))
    stream = first.stream_id

    with pytest.raises(ConcurrencyConflict) as caught:
        await store.append(append_request(stream, expected_version=1))

    assert caught.value.actual_version == 2
    assert caught.value.expected_version == 1
    assert await store.stream_version(stream) == 2
    assert await count_rows(pool) == 2


async def test_expected_version_ahead_of_stream_conflicts(store: PostgresEventStore) -> None:
    first = await store.append(append_request())

    with pytest.raises(ConcurrencyConflict) as caught:
        await store.append(append_request(first.stream_id, expected_version=5))

    assert caught.value.actual_version == 1
    assert [e.stream_version for e in await store.read_stream(first.stream_id)] == [1]


async def test_concurrent_appends_at_the_same_version_exactly_one_wins(
    store: PostgresEventStore,
) -> None:
    stream = (await store.append(append_request())).stream_id

    outcomes = await asyncio.gather(
        *(store.append(append_request(stream, expected_version=1)) for _ in range(12)),
        return_exceptions=True,
    )

    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    losers = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(o, ConcurrencyConflict) for o in losers)
    assert [e.stream_version for e in await store.read_stream(stream)] == [1, 2]


# --- idempotency -----------------------------------------------------------------------


async def test_same_idempotency_key_returns_the_original_outcome(
    store: PostgresEventStore, pool: asyncpg.Pool
) -> None:
    stream = uuid.uuid4()
    original = await store.append(
        append_request(stream, count=3, idempotency_key="patch-1", request_hash=b"h1")
    )
    retry = await store.append(
        append_request(stream, count=3, idempotency_key="patch-1", request_hash=b"h1")
    )

    assert not original.duplicate
    assert retry.duplicate
    assert (retry.first_position, retry.last_position) == (
        original.first_position,
        original.last_position,
    )
    assert (retry.first_version, retry.last_version) == (1, 3)
    assert retry.recorded_at == original.recorded_at
    assert await count_rows(pool) == 3


async def test_concurrent_retries_with_one_key_record_once(
    store: PostgresEventStore, pool: asyncpg.Pool
) -> None:
    stream = uuid.uuid4()
    results = await asyncio.gather(
        *(
            store.append(append_request(stream, idempotency_key="k", request_hash=b"same"))
            for _ in range(10)
        )
    )

    assert sum(not r.duplicate for r in results) == 1
    assert len({r.first_position for r in results}) == 1
    assert await count_rows(pool) == 1


async def test_idempotency_key_reused_for_other_work_is_refused(
    store: PostgresEventStore, pool: asyncpg.Pool
) -> None:
    await store.append(append_request(idempotency_key="k", request_hash=b"first"))

    with pytest.raises(IdempotencyKeyReused):
        await store.append(append_request(idempotency_key="k", request_hash=b"second"))
    assert await count_rows(pool) == 1


async def test_a_conflicting_append_does_not_consume_its_idempotency_key(
    store: PostgresEventStore,
) -> None:
    stream = (await store.append(append_request())).stream_id
    with pytest.raises(ConcurrencyConflict):
        await store.append(append_request(stream, expected_version=0, idempotency_key="k"))

    retried = await store.append(append_request(stream, expected_version=1, idempotency_key="k"))
    assert not retried.duplicate
    assert retried.first_version == 2


# --- atomicity -------------------------------------------------------------------------


async def test_multi_event_append_gets_consecutive_versions_and_positions(
    store: PostgresEventStore,
) -> None:
    result = await store.append(append_request(count=4))
    events = await store.read_stream(result.stream_id)

    assert [e.stream_version for e in events] == [1, 2, 3, 4]
    assert [e.position for e in events] == list(
        range(result.first_position, result.last_position + 1)
    )
    assert len({e.recorded_at for e in events}) == 1


async def test_a_failing_event_in_a_batch_writes_none_of_them(
    store: PostgresEventStore, pool: asyncpg.Pool
) -> None:
    taken = new_event()
    await store.append(
        AppendRequest(uuid.uuid4(), "S", 0, [taken], "actor", uuid.uuid4(), idempotency_key="a")
    )
    batch = [new_event(), new_event(), taken]  # the third reuses an event id
    with pytest.raises(asyncpg.UniqueViolationError):
        await store.append(
            AppendRequest(uuid.uuid4(), "S", 0, batch, "actor", uuid.uuid4(), idempotency_key="b")
        )

    assert await count_rows(pool) == 1
    assert await pool.fetchval("SELECT count(*) FROM vibehq_idempotency WHERE key = 'b'") == 0


async def test_append_in_commits_with_the_callers_own_rows(
    store: PostgresEventStore, pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE side_effect (n int)")
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("INSERT INTO side_effect VALUES (1)")
        await store.append_in(conn, append_request())
        await transaction.rollback()  # the command failed after appending
        assert await conn.fetchval("SELECT count(*) FROM side_effect") == 0
    assert await count_rows(pool) == 0


# --- reading ---------------------------------------------------------------------------


async def test_read_stream_from_a_version_with_a_limit(store: PostgresEventStore) -> None:
    stream = (await store.append(append_request(count=5))).stream_id

    events = await store.read_stream(stream, after_version=2, limit=2)

    assert [e.stream_version for e in events] == [3, 4]


async def test_read_log_from_a_position_in_order(store: PostgresEventStore) -> None:
    results = [await store.append(append_request(count=2)) for _ in range(5)]

    after_second = results[1].last_position
    tail = await store.read_log(after_position=after_second)

    assert [e.position for e in tail] == sorted(e.position for e in tail)
    assert {e.stream_id for e in tail} == {r.stream_id for r in results[2:]}
    assert len(tail) == 6


async def test_recorded_event_carries_the_envelope_metadata(store: PostgresEventStore) -> None:
    request = append_request(actor="factory:ui")
    result = await store.append(request)

    (event,) = await store.read_stream(result.stream_id)

    assert event.event_id == request.events[0].event_id
    assert event.actor == "factory:ui"
    assert event.correlation_id == request.correlation_id
    assert event.stream_type == "TestStream"
    assert event.position == result.first_position
    assert event.state == request.events[0].state


async def test_the_active_trace_context_is_stored_with_the_event(
    store: PostgresEventStore,
) -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("submit patch") as span:
        result = await store.append(append_request())
        trace_id = f"{span.get_span_context().trace_id:032x}"

    (event,) = await store.read_stream(result.stream_id)

    assert event.trace_context is not None
    assert trace_id in event.trace_context.traceparent
    assert trace.get_current_span() is trace.INVALID_SPAN


TRACED_APPEND = """
import asyncio, sys
import asyncpg
from infrastructure.event_store.postgres_store import PostgresEventStore
from infrastructure.telemetry import setup_tracing
from tests.factories import append_request

provider = setup_tracing("console")

async def main() -> None:
    pool = await asyncpg.create_pool(sys.argv[1], min_size=1, max_size=2)
    result = await PostgresEventStore(pool).append(append_request())
    print("stream", result.stream_id, file=sys.stderr)
    await pool.close()

asyncio.run(main())
provider.shutdown()
"""


async def test_with_tracing_on_an_append_is_a_span_whose_context_the_event_keeps(
    database_url: str, store: PostgresEventStore
) -> None:
    done = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        TRACED_APPEND,
        database_url,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await done.communicate()
    assert done.returncode == 0, err.decode()
    spans = out.decode()
    assert '"name": "event_store.append"' in spans
    stream = uuid.UUID(err.decode().split("stream ", 1)[1].split()[0])
    (event,) = await store.read_stream(stream)
    assert event.trace_context is not None
    trace_id = event.trace_context.traceparent.split("-")[1]
    assert f'"trace_id": "0x{trace_id}"' in spans
