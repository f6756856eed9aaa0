"""The per-stream hash chain the event store computes, checked by the Python verifier's rules."""

from __future__ import annotations

import asyncpg

from application.audit import ZERO_HASH, chained, event_digest
from infrastructure.event_store.postgres_store import PostgresEventStore, read_all
from tests.integration.workload import record_workload


async def test_every_event_chains_to_its_streams_previous_one(
    pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    await record_workload(store, pool, rounds=3)
    events = await read_all(store)
    heads: dict[object, bytes] = {}
    for event in events:
        assert event.prev_hash == heads.get(event.stream_id, ZERO_HASH)
        assert event.hash == chained(event.prev_hash, event_digest(event))  # same as SQL
        heads[event.stream_id] = event.hash
    assert len(heads) > 5
