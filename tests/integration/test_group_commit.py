"""Group commit on a real PostgreSQL: appends that share a commit keep their own outcomes.

Each test makes a group the same way: with one group allowed on its way, the first of
several concurrent appends leaves alone and the rest wait for it and leave together.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator

import asyncpg
import msgspec
import pytest
import pytest_asyncio

from application.audit import ZERO_HASH, chained, event_digest
from application.ports import AppendResult, ConcurrencyConflict, IdempotencyKeyReused
from infrastructure.blob_store import PostgresBlobStore
from infrastructure.event_store.postgres_store import PostgresEventStore, read_all
from tests.factories import append_request


@pytest_asyncio.fixture
async def grouping(pool: asyncpg.Pool, database_url: str) -> AsyncIterator[PostgresEventStore]:
    store = PostgresEventStore(pool, dsn=database_url, poll_interval=0.2, append_groups=1)
    await store.start()
    yield store
    await store.close()


def transaction_of(position: int) -> int:
    return position >> 16


async def test_concurrent_appends_share_commits_and_each_lands_where_it_should(
    grouping: PostgresEventStore,
) -> None:
    results = await asyncio.gather(*(grouping.append(append_request()) for _ in range(16)))

    assert [(r.first_version, r.last_version, r.duplicate) for r in results] == [(1, 1, False)] * 16
    assert len({r.first_position for r in results}) == 16
    assert len({transaction_of(r.first_position) for r in results}) == 2  # alone, then 15
    logged = await read_all(grouping)
    assert [e.position for e in logged] == sorted(r.first_position for r in results)
    for event in logged:  # each starts its own stream's chain, exactly as alone
        assert event.prev_hash == ZERO_HASH
        assert event.hash == chained(ZERO_HASH, event_digest(event))


async def test_a_writer_pipelining_appends_to_one_stream_keeps_their_order(
    grouping: PostgresEventStore,
) -> None:
    stream = uuid.uuid4()

    results = await asyncio.gather(
        *(grouping.append(append_request(stream, expected_version=v)) for v in range(5))
    )

    assert [r.first_version for r in results] == [1, 2, 3, 4, 5]
    assert [e.stream_version for e in await grouping.read_stream(stream)] == [1, 2, 3, 4, 5]


async def test_in_one_group_a_conflict_or_a_reused_key_fails_only_its_own_append(
    grouping: PostgresEventStore, pool: asyncpg.Pool
) -> None:
    moved_on = await grouping.append(append_request())
    keyed_before = await grouping.append(
        append_request(idempotency_key="k-done", request_hash=b"same")
    )
    rows_before = await pool.fetchval("SELECT count(*) FROM vibehq_events")

    filler, fine, stale, retried, reused, also_fine = await asyncio.gather(
        grouping.append(append_request()),
        grouping.append(append_request(moved_on.stream_id, expected_version=1)),
        grouping.append(append_request(moved_on.stream_id, expected_version=0)),
        grouping.append(append_request(idempotency_key="k-done", request_hash=b"same")),
        grouping.append(append_request(idempotency_key="k-done", request_hash=b"other")),
        grouping.append(append_request(idempotency_key="k-new", request_hash=b"x")),
        return_exceptions=True,
    )

    assert isinstance(fine, AppendResult)
    assert fine.first_version == 2
    assert isinstance(stale, ConcurrencyConflict)
    assert (stale.expected_version, stale.actual_version) == (0, 2)
    assert retried == AppendResult(
        stream_id=retried.stream_id,  # type: ignore[union-attr]
        first_version=keyed_before.first_version,
        last_version=keyed_before.last_version,
        first_position=keyed_before.first_position,
        last_position=keyed_before.last_position,
        recorded_at=keyed_before.recorded_at,
        duplicate=True,
    )
    assert isinstance(reused, IdempotencyKeyReused)
    assert isinstance(also_fine, AppendResult)
    assert not also_fine.duplicate
    assert isinstance(filler, AppendResult)
    # fine and also_fine were recorded in one transaction, the stale one is not there
    assert transaction_of(fine.first_position) == transaction_of(also_fine.first_position)
    assert await pool.fetchval("SELECT count(*) FROM vibehq_events") == rows_before + 3
    assert [e.stream_version for e in await grouping.read_stream(moved_on.stream_id)] == [1, 2]
    recalled = await grouping.recall("k-new", b"x")
    assert recalled is not None
    assert recalled.first_position == also_fine.first_position


async def test_a_group_the_server_refuses_is_sent_again_one_by_one(
    grouping: PostgresEventStore, pool: asyncpg.Pool
) -> None:
    taken = append_request()
    await grouping.append(taken)
    # An event id the log already holds: the whole group statement fails on it.
    clash = msgspec.structs.replace(append_request(), events=taken.events)

    _, innocent, guilty = await asyncio.gather(
        grouping.append(append_request()),
        grouping.append(append_request()),
        grouping.append(clash),
        return_exceptions=True,
    )

    assert isinstance(innocent, AppendResult)
    assert isinstance(guilty, asyncpg.UniqueViolationError)
    assert guilty.constraint_name == "vibehq_events_event_id"
    assert await grouping.stream_version(clash.stream_id) == 0


async def test_a_stream_another_process_is_appending_to_conflicts_alone(
    grouping: PostgresEventStore, pool: asyncpg.Pool
) -> None:
    contested = uuid.uuid4()
    async with pool.acquire() as other, other.transaction():
        # Another process has version 1 of `contested` written but not yet committed.
        await grouping.append_in(other, append_request(contested))
        appends = asyncio.gather(
            grouping.append(append_request()),
            grouping.append(append_request(contested)),
            grouping.append(append_request()),
            return_exceptions=True,
        )
        await asyncio.sleep(0.3)  # the group now waits on the uncommitted version 1
    _, lost, won = await appends

    assert isinstance(lost, ConcurrencyConflict)
    assert lost.actual_version == 1
    assert isinstance(won, AppendResult)
    assert [e.stream_version for e in await grouping.read_stream(contested)] == [1]


async def test_a_key_another_transaction_is_recording_returns_that_outcome(
    grouping: PostgresEventStore, pool: asyncpg.Pool
) -> None:
    async with pool.acquire() as other, other.transaction():
        first = await grouping.append_in(
            other, append_request(idempotency_key="in-flight", request_hash=b"h")
        )
        appends = asyncio.gather(
            grouping.append(append_request()),
            grouping.append(append_request(idempotency_key="in-flight", request_hash=b"h")),
            grouping.append(append_request()),
            return_exceptions=True,
        )
        await asyncio.sleep(0.3)  # the group now waits on the uncommitted key
    _, again, bystander = await appends

    assert isinstance(again, AppendResult)
    assert again.duplicate
    assert (again.first_position, again.first_version) == (
        first.first_position,
        first.first_version,
    )
    assert isinstance(bystander, AppendResult)


@pytest.mark.parametrize("groups", [0, 1, 2])
async def test_group_commit_on_or_off_records_the_same_log(
    pool: asyncpg.Pool, database_url: str, groups: int
) -> None:
    store = PostgresEventStore(pool, dsn=database_url, append_groups=groups)
    streams = [uuid.uuid4() for _ in range(6)]

    async def writer(stream: uuid.UUID) -> None:
        for version in range(5):
            await store.append(append_request(stream, expected_version=version))

    await asyncio.gather(*(writer(s) for s in streams))
    await store.close()

    for stream in streams:
        events = await store.read_stream(stream)
        assert [e.stream_version for e in events] == [1, 2, 3, 4, 5]
        previous = ZERO_HASH
        for event in events:
            assert event.prev_hash == previous
            assert event.hash == chained(previous, event_digest(event))
            previous = event.hash


async def test_a_group_stores_the_contents_its_appends_refer_to(
    grouping: PostgresEventStore, pool: asyncpg.Pool
) -> None:
    shared, own = b"shared file\n" * 50, b"only mine\n"
    digests = {content: hashlib.sha256(content).hexdigest() for content in (shared, own)}

    results = await asyncio.gather(
        grouping.append(append_request()),
        grouping.append(msgspec.structs.replace(append_request(), blobs={digests[shared]: shared})),
        grouping.append(
            msgspec.structs.replace(
                append_request(), blobs={digests[shared]: shared, digests[own]: own}
            )
        ),
    )

    assert transaction_of(results[1].first_position) == transaction_of(results[2].first_position)
    stored = await PostgresBlobStore(pool).get_many(digests.values())
    assert stored == {digests[shared]: shared, digests[own]: own}
