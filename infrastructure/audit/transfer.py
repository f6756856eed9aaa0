"""Export the log as JSON Lines, and import such a file into an empty database.

One line per record, in a fixed order and with fixed field order, so exporting an
imported log gives the same bytes:

* `event`: every stored column, `state` in base64, hashes in hex;
* `blob`: the file contents events refer to (stored form: raw or zlib);
* `link` and `checkpoint`: the global chain and its signatures (full exports only,
  since a partial log cannot carry a chain of the whole).

An import runs in one transaction: it checks every event's hash and its stream chain
on the way in, and either commits all of it or nothing (an error or Ctrl-C rolls back).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Final
from uuid import UUID

import msgspec

from application.audit import ZERO_HASH, chained, event_digest
from application.event_codec import EventCodec, event_types
from application.ports import RecordedEvent
from domain.contracts import (
    BlobLine,
    CheckpointLine,
    EventLine,
    ExportLine,
    LinkLine,
    TraceContext,
)
from domain.workspace import Workspace
from infrastructure.event_store.rows import COLUMNS, record_of
from infrastructure.pool import DbConnection

_CODEC: Final = EventCodec()
_CHANGES_FILES: Final = event_types(Workspace.PatchApplied, Workspace.PatchReverted)


_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(ExportLine)


class ImportRefused(Exception):
    """The file cannot be imported; nothing was written. str() says where and why."""


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
        state=base64.b64decode(line.state),
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
) -> AsyncIterator[bytes]:
    """The export, line by line (each ends with a newline), from one snapshot.

    Memory stays flat however long the log: events come through a cursor, and the blobs
    they refer to are gathered in a temporary table (not in this process), then read
    back through a cursor after the events.
    """
    await conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS vibehq_export_blobs (sha256 bytea PRIMARY KEY) "
        "ON COMMIT DELETE ROWS"
    )
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        pending: list[bytes] = []
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


async def import_lines(
    conn: DbConnection,
    lines: Iterable[tuple[int, bytes]],
    *,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Import (line number, bytes) pairs into an empty database, all or nothing."""
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM vibehq_events)"):
        raise ImportRefused("the database already holds events; import needs an empty one")
    counts = {"event": 0, "blob": 0, "link": 0, "checkpoint": 0}
    heads: dict[UUID, tuple[int, bytes]] = {}
    async with conn.transaction():
        for number, raw in lines:
            try:
                line = _DECODER.decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError) as error:
                raise ImportRefused(f"line {number}: {error}") from None
            if isinstance(line, EventLine):
                _check_chain(number, recorded(line), heads)
                await _insert_event(conn, line)
            elif isinstance(line, BlobLine):
                await conn.execute(
                    "INSERT INTO vibehq_blobs (sha256, size, encoding, data) "
                    "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    bytes.fromhex(line.sha256),
                    line.size,
                    line.encoding,
                    base64.b64decode(line.data),
                )
            elif isinstance(line, LinkLine):
                await conn.execute(
                    "INSERT INTO vibehq_log_chain (position, event_hash, log_hash) "
                    "VALUES ($1, $2, $3)",
                    line.position,
                    bytes.fromhex(line.event_hash),
                    bytes.fromhex(line.log_hash),
                )
            else:
                await conn.execute(
                    "INSERT INTO vibehq_log_checkpoints "
                    "(to_position, events, log_hash, public_key, signature, signed_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6)",
                    line.to_position,
                    line.events,
                    bytes.fromhex(line.log_hash),
                    bytes.fromhex(line.public_key),
                    bytes.fromhex(line.signature),
                    line.signed_at,
                )
            counts[type(line).__struct_config__.tag] += 1  # type: ignore[index]
            if progress is not None:
                progress(number)
        await conn.execute("SELECT vibehq_raise_position_floor()")
        if counts["link"]:  # the audit follower continues the imported chain
            last_link = await conn.fetchval("SELECT max(position) FROM vibehq_log_chain")
            await conn.execute(
                "INSERT INTO vibehq_checkpoints (name, position) VALUES ('audit', $1) "
                "ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position",
                last_link,
            )
    return counts


def _check_chain(number: int, event: RecordedEvent, heads: dict[UUID, tuple[int, bytes]]) -> None:
    if chained(event.prev_hash, event_digest(event)) != event.hash:
        raise ImportRefused(
            f"line {number}: event at position {event.position} does not match its hash "
            "(payload or metadata changed)"
        )
    head = heads.get(event.stream_id)
    if head is None:
        if event.stream_version == 1 and event.prev_hash != ZERO_HASH:
            raise ImportRefused(f"line {number}: the first event of a stream links to another")
    elif head != (event.stream_version - 1, event.prev_hash):
        raise ImportRefused(
            f"line {number}: event at position {event.position} does not follow version "
            f"{head[0]} of stream {event.stream_id} (deleted, inserted or reordered)"
        )
    heads[event.stream_id] = (event.stream_version, event.hash)


async def _insert_event(conn: DbConnection, line: EventLine) -> None:
    await conn.execute(
        "INSERT INTO vibehq_events (originator_id, originator_version, topic, state, "
        "notification_id, event_id, stream_type, event_type, schema_version, recorded_at, "
        "correlation_id, causation_id, actor, traceparent, tracestate, prev_hash, hash, "
        "token_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, "
        "$16, $17, $18)",
        line.stream_id,
        line.version,
        line.topic,
        base64.b64decode(line.state),
        line.position,
        line.event_id,
        line.stream_type,
        line.event_type,
        line.schema_version,
        line.recorded_at,
        line.correlation_id,
        line.causation_id,
        line.actor,
        line.traceparent,
        line.tracestate,
        bytes.fromhex(line.prev_hash),
        bytes.fromhex(line.hash),
        line.token_id,
    )
