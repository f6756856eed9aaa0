"""Stored rows of `vibehq_events` and what the store makes of them.

`COLUMNS` is the one select list every reader uses (the store, the export, the audit
verifier), and `record_of` the one mapping from it to `RecordedEvent`.
"""

from __future__ import annotations

from typing import Final
from uuid import UUID

import asyncpg

from application.ports import RecordedEvent
from domain.contracts import TraceContext

COLUMNS: Final = (
    "event_id, originator_id, stream_type, originator_version, notification_id, event_type, "
    "schema_version, recorded_at, correlation_id, causation_id, actor, traceparent, tracestate, "
    "topic, state, prev_hash, hash, token_id"
)


def record_of(row: asyncpg.Record, offset: int = 0) -> RecordedEvent:
    """A RecordedEvent from the `COLUMNS` of `row`, which start at column `offset`."""
    o = offset
    traceparent = row[o + 11]
    causation = row[o + 9]
    # Plain uuid.UUIDs, not asyncpg's subclass: ids read here end up in new events
    # (an aggregate's id, a patch id a check refers to), and the event serialiser
    # matches exact types.
    return RecordedEvent(
        event_id=UUID(bytes=row[o].bytes),
        stream_id=UUID(bytes=row[o + 1].bytes),
        stream_type=row[o + 2],
        stream_version=row[o + 3],
        position=row[o + 4],
        event_type=row[o + 5],
        schema_version=row[o + 6],
        recorded_at=row[o + 7],
        correlation_id=UUID(bytes=row[o + 8].bytes),
        causation_id=UUID(bytes=causation.bytes) if causation else None,
        actor=row[o + 10],
        trace_context=TraceContext(traceparent, row[o + 12]) if traceparent else None,
        topic=row[o + 13],
        state=row[o + 14],
        prev_hash=row[o + 15],
        hash=row[o + 16],
        token_id=UUID(bytes=token.bytes) if (token := row[o + 17]) else None,
    )
