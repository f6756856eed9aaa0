"""Several independent one-event appends as one SQL statement: group commit.

Concurrent commands of one process each append one event to their own stream. Sent one
by one, every append pays a round trip, a statement and a commit (a WAL flush) of its
own, and that per-commit work is most of what an append costs the server. This
statement records a group of them in one transaction and still gives each its own
outcome, exactly as if it had been sent alone:

* ``appended``  - recorded; versions, positions and time are in the row;
* ``duplicate`` - its idempotency key was used before by the same request: the first
  outcome is in the row and nothing new is recorded;
* ``reused``    - its key was used before by a different request;
* ``stale``     - the stream is not at the expected version (``head`` says where it is);
* ``retry``     - its key is being recorded by a concurrent transaction right now.

Only the appends that can be decided inside the statement are grouped: one event each,
at most one per stream and per key (`group_commit.py` picks them). The head check, the
position (transaction id << 16, plus the append's index in the group), the hash chain
and the idempotency row are those of `vibehq_append` and `one_event_append.py`. A
statement that fails (two processes appending to one stream collide on the primary key,
a constraint, a deadlock) rolls back whole; the caller then runs each append alone, so
each still gets the outcome or error it would have had.

Keys and streams are written in sorted order so that two groups with overlapping keys or
streams (two processes) wait for each other instead of deadlocking.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import asyncpg

from application.ports import AppendRequest
from domain.contracts import TraceContext
from infrastructure.blob_store import blob_columns, insert_blobs_sql
from infrastructure.pool import DbConnection

#: The most appends one group statement takes (positions use 16 bits per transaction).
MAX_GROUP: Final = 256

_ZERO_HASH: Final = "'\\x" + "00" * 32 + "'::bytea"

_APPEND_GROUP: Final = f"""
WITH req AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::integer[],
                         $6::text[], $7::bytea[], $8::uuid[], $9::uuid[], $10::text[],
                         $11::text[], $12::text[], $13::uuid[], $14::bigint[], $15::text[],
                         $16::bytea[])
        WITH ORDINALITY AS r(stream_id, event_id, stream_type, event_type, schema_version,
                             topic, state, correlation_id, causation_id, actor, traceparent,
                             tracestate, token_id, expected_version, key, request_hash, n)
), known AS (
    SELECT r.n, i.request_hash = r.request_hash AS same_request, i.first_version,
           i.last_version, i.first_position, i.last_position, i.recorded_at
    FROM req r JOIN vibehq_idempotency i ON i.key = r.key
), head AS (
    SELECT r.n, coalesce(h.version, 0) AS version, coalesce(h.hash, {_ZERO_HASH}) AS hash
    FROM req r LEFT JOIN LATERAL (
        SELECT originator_version AS version, hash FROM vibehq_events
        WHERE originator_id = r.stream_id ORDER BY originator_version DESC LIMIT 1
    ) h ON true
), clock AS (
    SELECT (pg_current_xact_id()::text::bigint + xid_offset) << 16 AS base,
           date_trunc('microseconds', clock_timestamp()) AS at
    FROM vibehq_position_clock
), new AS (
    SELECT r.*, h.version + 1 AS version, c.base + r.n - 1 AS position, c.at,
           h.hash AS prev_hash,
           sha256(h.hash || vibehq_event_digest(r.event_id, r.stream_id, h.version + 1,
                  r.stream_type, r.event_type, r.schema_version, c.at, r.correlation_id,
                  r.causation_id, r.actor, r.traceparent, r.tracestate, r.topic, r.state,
                  r.token_id)) AS hash
    FROM req r JOIN head h USING (n) CROSS JOIN clock c
    WHERE h.version = r.expected_version AND r.n NOT IN (SELECT n FROM known)
), keyed AS (
    INSERT INTO vibehq_idempotency (key, request_hash, stream_id, first_version,
        last_version, first_position, last_position, recorded_at)
    SELECT key, request_hash, stream_id, version, version, position, position, at
    FROM new WHERE key IS NOT NULL ORDER BY key
    ON CONFLICT (key) DO NOTHING
    RETURNING key
), inserted AS (
    INSERT INTO vibehq_events (originator_id, originator_version, topic, state,
        notification_id, event_id, stream_type, event_type, schema_version, recorded_at,
        correlation_id, causation_id, actor, traceparent, tracestate, token_id, prev_hash,
        hash)
    SELECT stream_id, version, topic, state, position, event_id, stream_type, event_type,
           schema_version, at, correlation_id, causation_id, actor, traceparent, tracestate,
           token_id, prev_hash, hash
    FROM new WHERE key IS NULL OR key IN (SELECT key FROM keyed) ORDER BY stream_id
    RETURNING originator_id, originator_version, notification_id, recorded_at
)
SELECT CASE WHEN k.n IS NOT NULL THEN
                CASE WHEN k.same_request THEN 'duplicate' ELSE 'reused' END
            WHEN i.originator_version IS NOT NULL THEN 'appended'
            WHEN h.version <> r.expected_version THEN 'stale'
            ELSE 'retry' END AS outcome,
       coalesce(i.originator_version, k.first_version) AS first_version,
       coalesce(i.originator_version, k.last_version) AS last_version,
       coalesce(i.notification_id, k.first_position) AS first_position,
       coalesce(i.notification_id, k.last_position) AS last_position,
       coalesce(i.recorded_at, k.recorded_at) AS recorded_at,
       h.version AS head
FROM req r JOIN head h USING (n) LEFT JOIN known k USING (n)
     LEFT JOIN inserted i ON i.originator_id = r.stream_id
ORDER BY r.n
"""
_APPEND_GROUP_WITH_BLOBS: Final = _APPEND_GROUP.replace(
    "WITH req AS (", f"WITH blobs AS ({insert_blobs_sql(17)}), req AS (", 1
)


def groupable(request: AppendRequest) -> bool:
    """Whether the group statement can record this request (one event)."""
    return len(request.events) == 1


async def append_group(
    conn: DbConnection,
    requests: Sequence[tuple[AppendRequest, TraceContext | None]],
) -> list[asyncpg.Record]:
    """One result row per request, in order (see the module's outcomes).

    The requests must each hold one event, name distinct streams and distinct keys, and
    be at most `MAX_GROUP`; `conn` must be outside any transaction.
    """
    if not 0 < len(requests) <= MAX_GROUP:
        raise ValueError(f"a group holds 1 to {MAX_GROUP} appends, not {len(requests)}")
    events = [request.events[0] for request, _ in requests]
    contents: dict[str, bytes] = {}
    for request, _ in requests:
        contents.update(request.blobs)
    blobs = blob_columns(contents) if contents else ()
    rows: list[asyncpg.Record] = await conn.fetch(
        _APPEND_GROUP_WITH_BLOBS if blobs else _APPEND_GROUP,
        [request.stream_id for request, _ in requests],
        [event.event_id for event in events],
        [request.stream_type for request, _ in requests],
        [event.event_type for event in events],
        [event.schema_version for event in events],
        [event.topic for event in events],
        [event.state for event in events],
        [request.correlation_id for request, _ in requests],
        [request.causation_id for request, _ in requests],
        [request.actor for request, _ in requests],
        [trace.traceparent if trace else None for _, trace in requests],
        [trace.tracestate if trace else None for _, trace in requests],
        [request.token_id for request, _ in requests],
        [request.expected_version for request, _ in requests],
        [request.idempotency_key for request, _ in requests],
        [request.request_hash for request, _ in requests],
        *blobs,
    )
    return rows
