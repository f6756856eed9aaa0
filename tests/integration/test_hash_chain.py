"""The per-stream hash chain the event store computes, checked by the Python verifier's rules."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from application.audit import ZERO_HASH, chained, event_digest
from application.ports import AppendRequest, NewEvent
from domain.contracts import TraceContext
from infrastructure.event_store import group_append
from infrastructure.event_store.postgres_store import PostgresEventStore, read_all
from tests.factories import append_request
from tests.integration.workload import record_workload

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


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


@pytest.mark.parametrize(
    ("causation", "trace", "token"),
    [
        (None, None, None),
        (uuid.uuid4(), None, None),
        (None, TraceContext(traceparent=TRACEPARENT), None),
        (None, TraceContext(traceparent=TRACEPARENT, tracestate="vendor=é1"), None),
        (uuid.uuid4(), TraceContext(traceparent=TRACEPARENT, tracestate="a=b"), uuid.uuid4()),
    ],
    ids=["bare", "causation", "traceparent", "tracestate", "everything"],
)
@pytest.mark.parametrize("path", ["one-event statement", "vibehq_append", "group statement"])
async def test_sql_and_python_digests_agree_for_every_optional_field(
    store: PostgresEventStore,
    pool: asyncpg.Pool,
    causation: uuid.UUID | None,
    trace: TraceContext | None,
    token: uuid.UUID | None,
    path: str,
) -> None:
    stream = uuid.uuid4()
    events = [
        NewEvent(uuid.uuid4(), "Made", 1, "t:Made", '{"ü":"ß"}'.encode()),
        NewEvent(uuid.uuid4(), "Made", 2, "t:Made", b""),
    ]
    batches = [events] if path == "vibehq_append" else [[event] for event in events]
    version = 0
    for batch in batches:
        request = AppendRequest(
            stream_id=stream,
            stream_type="Wörkspace",
            expected_version=version,
            events=batch,
            actor="factory:ägent",
            correlation_id=uuid.uuid4(),
            causation_id=causation,
            trace_context=trace,
            token_id=token,
        )
        if path == "group statement":  # with a neighbour, as group commit sends it
            async with pool.acquire() as conn:
                rows = await group_append.append_group(
                    conn, [(append_request(), None), (request, trace)]
                )
            assert [row["outcome"] for row in rows] == ["appended", "appended"]
        else:
            await store.append(request)
        version += len(batch)
    first, second = await store.read_stream(stream)
    assert first.hash == chained(ZERO_HASH, event_digest(first))
    assert second.hash == chained(first.hash, event_digest(second))
    assert second.prev_hash == first.hash
