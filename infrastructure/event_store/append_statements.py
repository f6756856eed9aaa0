"""The append statements on one connection, and what their refusals mean.

`call_append` runs `vibehq_append` (migrations/0001_event_log.sql), with the blobs in
the same statement when there are any; `call_append_one` the single-statement
one-event append (`one_event_append.py`). Both turn the database's refusals into the
port's errors. `stream_version` reads the current version for a conflict's message on
another connection: the caller's may be in a failed transaction (`append_in`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final
from uuid import UUID

import asyncpg

from application.ports import (
    AppendRequest,
    AppendResult,
    ConcurrencyConflict,
    IdempotencyKeyReused,
)
from domain.contracts import TraceContext
from infrastructure.blob_store import blob_columns, insert_blobs_sql
from infrastructure.event_store import one_event_append
from infrastructure.pool import DbConnection

StreamVersion = Callable[[UUID], Awaitable[int]]

_APPEND: Final = (
    "SELECT outcome, first_version, last_version, first_position, last_position, recorded_at "
    "FROM vibehq_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
)
#: The same append with the blobs its events refer to, in one statement (one round trip,
#: one implicit transaction): PostgreSQL always runs a data-modifying WITH to completion.
_APPEND_WITH_BLOBS: Final = f"WITH blobs AS ({insert_blobs_sql(17)}) {_APPEND}"


def result_of(request: AppendRequest, row: asyncpg.Record) -> AppendResult:
    return AppendResult(
        stream_id=request.stream_id,
        first_version=row[1],
        last_version=row[2],
        first_position=row[3],
        last_position=row[4],
        recorded_at=row[5],
        duplicate=row[0] == "duplicate",
    )


async def call_append_one(
    conn: DbConnection,
    request: AppendRequest,
    trace_context: TraceContext | None,
    stream_version: StreamVersion,
) -> asyncpg.Record:
    """A one-event append by its single statement; a lost race is a ConcurrencyConflict."""
    try:
        row = await one_event_append.append_one(conn, request, trace_context)
    except asyncpg.UniqueViolationError as error:
        if error.constraint_name != "vibehq_events_pkey":
            raise
        actual = await stream_version(request.stream_id)
        raise ConcurrencyConflict(request.stream_id, request.expected_version, actual) from None
    if row["first_version"] is None:
        raise ConcurrencyConflict(request.stream_id, request.expected_version, row["head"])
    return row


async def call_append(
    conn: DbConnection,
    request: AppendRequest,
    trace_context: TraceContext | None,
    stream_version: StreamVersion,
) -> asyncpg.Record:
    """Any append by `vibehq_append`; its refusals become ConcurrencyConflict and
    IdempotencyKeyReused."""
    events = request.events
    blobs = blob_columns(request.blobs) if request.blobs else ()
    try:
        row = await conn.fetchrow(
            _APPEND_WITH_BLOBS if blobs else _APPEND,
            request.stream_id,
            request.stream_type,
            request.expected_version,
            request.idempotency_key,
            request.request_hash,
            [e.event_id for e in events],
            [e.event_type for e in events],
            [e.schema_version for e in events],
            [e.topic for e in events],
            [e.state for e in events],
            request.correlation_id,
            request.causation_id,
            request.actor,
            trace_context.traceparent if trace_context else None,
            trace_context.tracestate if trace_context else None,
            request.token_id,
            *blobs,
        )
    except asyncpg.UniqueViolationError as error:
        if error.constraint_name != "vibehq_events_pkey":
            raise
        actual = await stream_version(request.stream_id)
        raise ConcurrencyConflict(request.stream_id, request.expected_version, actual) from None
    except asyncpg.PostgresError as error:
        if error.sqlstate == "VH409":
            actual = int(getattr(error, "detail", "0") or 0)
            raise ConcurrencyConflict(request.stream_id, request.expected_version, actual) from None
        if error.sqlstate == "VH422":
            raise IdempotencyKeyReused(request.idempotency_key or "") from None
        raise
    assert row is not None
    return row
