"""Export the log as JSON Lines (the import is infrastructure/audit/importer.py).

One line per record, in a fixed order and with fixed field order, so exporting an
imported log gives the same bytes:

* `event`: every stored column, `state` in base64, hashes in hex;
* `blob`: the file contents events refer to (stored form: raw or zlib);
* `link` and `checkpoint`: the global chain and its signatures (full exports only,
  since a partial log cannot carry a chain of the whole).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator, Iterable
from typing import Final
from uuid import UUID

import msgspec

from application.event_codec import EventCodec, event_types
from application.ports import RecordedEvent
from domain.contracts import (
    BlobLine,
    CheckpointLine,
    EventLine,
    LinkLine,
    TraceContext,
)
from domain.workspace import Workspace
from infrastructure.event_store.log_queries import in_index_order
from infrastructure.event_store.rows import COLUMNS, record_of
from infrastructure.pool import DbConnection

_CODEC: Final = EventCodec()
_CHANGES_FILES: Final = event_types(Workspace.PatchApplied, Workspace.PatchReverted)


_ENCODER: Final = msgspec.json.Encoder()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def event_line(event: RecordedEvent) -> EventLine:
    trace = event.trace_context
    return EventLine(
        position=event.position,
        stream_id=event.stream_id,
        version=event.stream_version,
        event_id=event.event_id,
        stream_type=event.stream_type,
        event_type=event.event_type,
        schema_version=event.schema_version,
        recorded_at=event.recorded_at,
        correlation_id=event.correlation_id,
        causation_id=event.causation_id,
        actor=event.actor,
        traceparent=trace.traceparent if trace else None,
        tracestate=trace.tracestate if trace else None,
        topic=event.topic,
        state=_b64(event.state),
        prev_hash=event.prev_hash.hex(),
        hash=event.hash.hex(),
        token_id=event.token_id,
    )


def recorded(line: EventLine) -> RecordedEvent:
    return RecordedEvent(
        event_id=line.event_id,
        stream_id=line.stream_id,
        stream_type=line.stream_type,
        stream_version=line.version,
        position=line.position,
        event_type=line.event_type,
        schema_version=line.schema_version,
        recorded_at=line.recorded_at,
        correlation_id=line.correlation_id,
        causation_id=line.causation_id,
        actor=line.actor,
        trace_context=TraceContext(line.traceparent, line.tracestate) if line.traceparent else None,
        topic=line.topic,
        state=base64.b64decode(line.state, validate=True),
        prev_hash=bytes.fromhex(line.prev_hash),
        hash=bytes.fromhex(line.hash),
        token_id=line.token_id,
    )


async def export_lines(
    conn: DbConnection,
    *,
    stream: UUID | None,
    first: int,
    last: int,
    full: bool,
    resume_after: int | None = None,
) -> AsyncGenerator[bytes, None]:
    """The export, line by line (each ends with a newline), from one snapshot.

    Memory stays flat however long the log: events come through a cursor, and the blobs
    they refer to are gathered in a temporary table (not in this process), then read
    back through a cursor after the events. With `resume_after`, the events up to that
    position are left out (an earlier run wrote them), but the blobs they refer to are
    still gathered: the rest of the file is the same as an export in one go.
    """
    await conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS vibehq_export_blobs (sha256 bytea PRIMARY KEY) "
        "ON COMMIT DELETE ROWS"
    )
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await in_index_order(conn)
        pending: list[bytes] = []
        if resume_after is not None:
            async for row in conn.cursor(
                f"SELECT {COLUMNS} FROM vibehq_events WHERE notification_id BETWEEN $1 AND $2 "
                "AND ($3::uuid IS NULL OR originator_id = $3) AND event_type = ANY($4) "
                "ORDER BY notification_id",
                first,
                resume_after,
                stream,
                list(_CHANGES_FILES),
            ):
                pending.extend(bytes.fromhex(change) for change in _blob_refs(record_of(row)))
                if len(pending) >= _BLOB_BATCH:
                    await _gather_blobs(conn, pending)
            first = resume_after + 1
        async for row in conn.cursor(
            f"SELECT {COLUMNS} FROM vibehq_events WHERE notification_id BETWEEN $1 AND $2 "
            "AND ($3::uuid IS NULL OR originator_id = $3) ORDER BY notification_id",
            first,
            last,
            stream,
        ):
            event = record_of(row)
            pending.extend(bytes.fromhex(change) for change in _blob_refs(event))
            if len(pending) >= _BLOB_BATCH:
                await _gather_blobs(conn, pending)
            yield _ENCODER.encode(event_line(event)) + b"\n"
        await _gather_blobs(conn, pending)
        async for row in conn.cursor(
            "SELECT b.sha256, b.size, b.encoding, b.data FROM vibehq_blobs b "
            "JOIN vibehq_export_blobs USING (sha256) ORDER BY b.sha256"
        ):
            blob = BlobLine(row["sha256"].hex(), row["size"], row["encoding"], _b64(row["data"]))
            yield _ENCODER.encode(blob) + b"\n"
        if not full:
            return
        async for row in conn.cursor(
            "SELECT position, event_hash, log_hash FROM vibehq_log_chain ORDER BY position"
        ):
            link = LinkLine(row["position"], row["event_hash"].hex(), row["log_hash"].hex())
            yield _ENCODER.encode(link) + b"\n"
        async for row in conn.cursor(
            "SELECT to_position, events, log_hash, public_key, signature, signed_at "
            "FROM vibehq_log_checkpoints ORDER BY to_position"
        ):
            checkpoint = CheckpointLine(
                row["to_position"],
                row["events"],
                row["log_hash"].hex(),
                row["public_key"].hex(),
                row["signature"].hex(),
                row["signed_at"],
            )
            yield _ENCODER.encode(checkpoint) + b"\n"


#: Blob hashes sent to the temporary table at a time.
_BLOB_BATCH: Final = 1000


async def _gather_blobs(conn: DbConnection, hashes: list[bytes]) -> None:
    if hashes:
        await conn.execute(
            "INSERT INTO vibehq_export_blobs SELECT unnest($1::bytea[]) ON CONFLICT DO NOTHING",
            hashes,
        )
        hashes.clear()


def _blob_refs(record: RecordedEvent) -> Iterable[str]:
    """Blob hashes a workspace event refers to (file contents before and after)."""
    if record.event_type not in _CHANGES_FILES:
        return ()
    event = _CODEC.decode(record)
    assert isinstance(event, Workspace.PatchApplied | Workspace.PatchReverted)
    sources = list(event.sources) if isinstance(event, Workspace.PatchApplied) else []
    return [
        entry.sha256
        for change in event.changes
        for entry in (change.before, change.after)
        if entry is not None
    ] + sources
