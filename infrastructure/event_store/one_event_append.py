"""The one-event append as a single SQL statement, for the commonest command.

`vibehq_append` (PL/pgSQL) handles every case: several events, idempotency keys,
several appends in one caller transaction. Most commands append one event without a
key, on a connection of their own, and for them the function's per-statement overhead
was most of what the store cost over a bare INSERT (docs/benchmarks.md). This statement
does the same work in one plan: it reads the stream's head (version and hash), checks
the expected version, takes the position from the transaction id as the function does
(index 0: the statement is its own transaction), chains the hash with the same
`vibehq_event_digest`, and inserts. A stale or future expected version inserts nothing
and reports the head; two writers that both saw the same head collide on the primary
key, which the caller already reports as a conflict.
"""

from __future__ import annotations

from typing import Final

import asyncpg

from application.ports import AppendRequest
from domain.contracts import TraceContext
from infrastructure.blob_store import blob_columns, insert_blobs_sql
from infrastructure.pool import DbConnection

_ZERO_HASH: Final = "'\\x" + "00" * 32 + "'::bytea"

_APPEND_ONE: Final = f"""
WITH head AS (
    SELECT originator_version AS version, hash FROM vibehq_events
    WHERE originator_id = $1 ORDER BY originator_version DESC LIMIT 1
), base AS (
    SELECT coalesce((SELECT version FROM head), 0) AS version,
           coalesce((SELECT hash FROM head), {_ZERO_HASH}) AS hash
), clock AS (
    SELECT (pg_current_xact_id()::text::bigint + xid_offset) << 16 AS position,
           date_trunc('microseconds', clock_timestamp()) AS at
    FROM vibehq_position_clock
), new AS (
    SELECT b.version + 1 AS version, c.position, c.at, b.hash AS prev_hash,
           sha256(b.hash || vibehq_event_digest($2, $1, b.version + 1, $3, $4, $5, c.at,
                  $8, $9, $10, $11, $12, $6, $7, $13)) AS hash
    FROM base b, clock c WHERE b.version = $14
), inserted AS (
    INSERT INTO vibehq_events (originator_id, originator_version, topic, state,
        notification_id, event_id, stream_type, event_type, schema_version, recorded_at,
        correlation_id, causation_id, actor, traceparent, tracestate, token_id, prev_hash,
        hash)
    SELECT $1, version, $6, $7, position, $2, $3, $4, $5, at, $8, $9, $10, $11, $12, $13,
           prev_hash, hash
    FROM new
    RETURNING originator_version, notification_id, recorded_at
)
SELECT 'appended' AS outcome, i.originator_version AS first_version,
       i.originator_version AS last_version, i.notification_id AS first_position,
       i.notification_id AS last_position, i.recorded_at,
       (SELECT version FROM base) AS head
FROM (SELECT 1) AS one LEFT JOIN inserted AS i ON true
"""
_APPEND_ONE_WITH_BLOBS: Final = _APPEND_ONE.replace(
    "WITH head AS (", f"WITH blobs AS ({insert_blobs_sql(15)}), head AS (", 1
)


def fits(request: AppendRequest) -> bool:
    """Whether this statement can record the request (else: `vibehq_append`)."""
    return len(request.events) == 1 and request.idempotency_key is None


async def append_one(
    conn: DbConnection, request: AppendRequest, trace_context: TraceContext | None
) -> asyncpg.Record:
    """The append's result row; `first_version` is NULL (and `head` set) on a stale version.

    Only on a connection outside any transaction: the position's index within the
    transaction is taken to be 0.
    """
    event = request.events[0]
    blobs = blob_columns(request.blobs) if request.blobs else ()
    row: asyncpg.Record | None = await conn.fetchrow(
        _APPEND_ONE_WITH_BLOBS if blobs else _APPEND_ONE,
        request.stream_id,
        event.event_id,
        request.stream_type,
        event.event_type,
        event.schema_version,
        event.topic,
        event.state,
        request.correlation_id,
        request.causation_id,
        request.actor,
        trace_context.traceparent if trace_context else None,
        trace_context.tracestate if trace_context else None,
        request.token_id,
        request.expected_version,
        *blobs,
    )
    assert row is not None  # the outer SELECT always yields one row
    return row
