"""Import an export (infrastructure/audit/transfer.py) into an empty database.

Every event's hash and stream chain is checked on the way in. The import commits one
checkpoint at a time (`every` lines) and records how far it got in `vibehq_import` in
the same transaction, so a run cut short (an error, Ctrl-C, a lost connection, a
killed process) keeps whole checkpoints only, and running it again on the same file
resumes after the last one. Until the last checkpoint commits, `serve` and `worker`
refuse the database (`unfinished_import`).

Memory is bounded whatever the log's length: a batch of lines on their way, and the
heads of at most `_HEADS` streams (5,000 heads take about 1.2 MB); the heads of a batch's
other streams are read back from the database in one query. PostgreSQL holds one
checkpoint's transaction.
"""

from __future__ import annotations

import base64
import contextlib
from collections import OrderedDict
from collections.abc import Iterable
from typing import Final, NamedTuple
from uuid import UUID

import asyncpg
import msgspec

from application.audit import ZERO_HASH, chained, event_digest
from application.ports import RecordedEvent
from domain.contracts import BlobLine, EventLine, ExportLine, LinkLine
from infrastructure.audit.transfer import recorded
from infrastructure.pool import DbConnection

#: Lines per checkpoint (one transaction each) unless the caller says otherwise.
CHECKPOINT_LINES: Final = 20_000
#: Stream heads kept in memory; others are read back, a batch at a time.
_HEADS: Final = 5_000

_DECODER: Final = msgspec.json.Decoder(ExportLine)


class ImportRefused(Exception):
    """The file cannot be imported (from this line on); str() says where and why."""


class Unfinished(NamedTuple):
    """An import that stopped before its end."""

    source: str
    identity: bytes
    lines: int


class Imported(NamedTuple):
    counts: dict[str, int]  # lines of each kind written by this run
    resumed_after: int  # the line this run started after (0: from the start)


async def unfinished_import(conn: DbConnection) -> Unfinished | None:
    row = await conn.fetchrow("SELECT source, identity, lines FROM vibehq_import")
    return None if row is None else Unfinished(row["source"], row["identity"], row["lines"])


def unfinished_message(found: Unfinished) -> str:
    return (
        f"the log is incomplete: an import of {found.source} stopped after line "
        f"{found.lines}; run `vibehq events import {found.source}` again to finish it"
    )


async def import_lines(
    conn: DbConnection,
    lines: Iterable[tuple[int, bytes]],
    *,
    source: str,
    identity: bytes,
    every: int = CHECKPOINT_LINES,
) -> Imported:
    """Import (line number, bytes) pairs into an empty database, or resume the
    unfinished import of the same file (`identity`) after its last checkpoint."""
    found = await unfinished_import(conn)
    if found is not None and found.identity != identity:
        raise ImportRefused(
            f"the database holds an unfinished import of another file ({found.source}, "
            f"stopped after line {found.lines}); finish that one, or import into an empty "
            "database"
        )
    if found is None and await conn.fetchval("SELECT EXISTS (SELECT 1 FROM vibehq_events)"):
        raise ImportRefused("the database already holds events; import needs an empty one")
    skip = committed = 0 if found is None else found.lines
    counts = {"event": 0, "blob": 0, "link": 0, "checkpoint": 0}
    writer = _Writer(conn)
    transaction = conn.transaction()
    await transaction.start()
    try:
        if found is None:  # in the first checkpoint's transaction: gone if it fails
            await conn.execute(
                "INSERT INTO vibehq_import (source, identity, lines) VALUES ($1, $2, 0)",
                source,
                identity,
            )
        since = 0
        for number, raw in lines:
            if number <= skip:
                continue
            try:
                kind, row, event = _parsed(_DECODER.decode(raw))
            except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as error:
                await writer.flush()  # a fault in a line before it is named first
                raise ImportRefused(f"line {number}: {error}") from None
            await writer.add(number, kind, row, event)
            counts[kind] += 1
            since += 1
            if since >= every:
                await writer.flush()
                await _checkpoint(conn, number)
                await transaction.commit()
                committed = number
                transaction = conn.transaction()
                await transaction.start()
                since = 0
        await writer.flush()
        await _finish(conn)
        await transaction.commit()
    except BaseException as error:
        with contextlib.suppress(
            asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError
        ):
            await transaction.rollback()  # a lost connection has rolled back already
        if isinstance(error, ImportRefused) and committed:
            raise ImportRefused(
                f"{error}; the first {committed} lines are imported (checkpoints of "
                f"{every}): run the same import again to resume, or start over on an "
                "empty database"
            ) from None
        raise
    return Imported(counts, skip)


async def _checkpoint(conn: DbConnection, number: int) -> None:
    await conn.execute("UPDATE vibehq_import SET lines = $1, updated_at = now()", number)


async def _finish(conn: DbConnection) -> None:
    await conn.execute("SELECT vibehq_raise_position_floor()")
    last_link = await conn.fetchval("SELECT max(position) FROM vibehq_log_chain")
    if last_link is not None:  # the audit follower continues the imported chain
        await conn.execute(
            "INSERT INTO vibehq_checkpoints (name, position) VALUES ('audit', $1) "
            "ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position",
            last_link,
        )
    await conn.execute("DELETE FROM vibehq_import")


#: Lines sent to PostgreSQL together (one pipelined `executemany` per kind).
_BATCH: Final = 500

_INSERTS: Final = {
    "event": "INSERT INTO vibehq_events (originator_id, originator_version, topic, state, "
    "notification_id, event_id, stream_type, event_type, schema_version, recorded_at, "
    "correlation_id, causation_id, actor, traceparent, tracestate, prev_hash, hash, token_id) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    "blob": "INSERT INTO vibehq_blobs (sha256, size, encoding, data) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    "link": "INSERT INTO vibehq_log_chain (position, event_hash, log_hash) VALUES ($1, $2, $3)",
    "checkpoint": "INSERT INTO vibehq_log_checkpoints "
    "(to_position, events, log_hash, public_key, signature, signed_at) "
    "VALUES ($1, $2, $3, $4, $5, $6)",
}


class _Writer:
    """Checks each line, and writes lines a batch at a time."""

    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn
        self._rows: dict[str, list[tuple[object, ...]]] = {kind: [] for kind in _INSERTS}
        self._events: list[tuple[int, RecordedEvent]] = []  # checked as the batch goes
        self._lines: tuple[int, int] | None = None  # first and last line waiting
        self._links = _Links(conn)

    async def add(
        self, number: int, kind: str, row: tuple[object, ...], event: RecordedEvent | None
    ) -> None:
        """Queue one parsed line (`_parsed`), checked when its batch is written."""
        if event is not None:
            self._events.append((number, event))
        self._rows[kind].append(row)
        self._lines = (number if self._lines is None else self._lines[0], number)
        if sum(len(rows) for rows in self._rows.values()) >= _BATCH:
            await self.flush()

    async def flush(self) -> None:
        await self._links.check(self._events)
        self._events.clear()
        try:
            for kind, rows in self._rows.items():
                if rows:
                    await self._conn.executemany(_INSERTS[kind], rows)
                    rows.clear()
        except asyncpg.UniqueViolationError as error:
            first, last = self._lines or (0, 0)
            raise ImportRefused(
                f"lines {first}-{last}: one is already in the log ({error.constraint_name})"
            ) from None
        self._lines = None


def _parsed(line: ExportLine) -> tuple[str, tuple[object, ...], RecordedEvent | None]:
    """A line's kind, its row and, for an event, the event to check; ValueError if a
    hex or base64 field does not decode."""
    if isinstance(line, EventLine):
        event = recorded(line)
        return "event", _event_row(line, event), event
    if isinstance(line, BlobLine):
        data = base64.b64decode(line.data, validate=True)
        return "blob", (bytes.fromhex(line.sha256), line.size, line.encoding, data), None
    if isinstance(line, LinkLine):
        hashes = bytes.fromhex(line.event_hash), bytes.fromhex(line.log_hash)
        return "link", (line.position, *hashes), None
    return (
        "checkpoint",
        (
            line.to_position,
            line.events,
            bytes.fromhex(line.log_hash),
            bytes.fromhex(line.public_key),
            bytes.fromhex(line.signature),
            line.signed_at,
        ),
        None,
    )


def _event_row(line: EventLine, event: RecordedEvent) -> tuple[object, ...]:
    return (
        line.stream_id,
        line.version,
        line.topic,
        event.state,
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
        event.prev_hash,
        event.hash,
        line.token_id,
    )


class _Links:
    """Checks each stream's chain a batch at a time: an event must follow its stream's
    head, and a stream's first event must link to none.

    The heads of the newest `_HEADS` streams stay in memory, kept as bytes (the stream
    id's 16 mapped to the version's 8 and the hash's 32: about 230 B a head). The heads
    of a batch's other streams are read back from what this import wrote, in one query
    for the batch.
    """

    def __init__(self, conn: DbConnection) -> None:
        self._conn = conn
        self._known: OrderedDict[bytes, bytes] = OrderedDict()

    async def check(self, events: list[tuple[int, RecordedEvent]]) -> None:
        """Check (line number, event) pairs, in order, against what came before them."""
        heads = await self._read_back(events)
        for number, event in events:
            if chained(event.prev_hash, event_digest(event)) != event.hash:
                raise ImportRefused(
                    f"line {number}: event at position {event.position} does not match its "
                    "hash (payload or metadata changed)"
                )
            stream = event.stream_id.bytes
            head = heads.get(stream)
            if head is None:
                if event.stream_version != 1 or event.prev_hash != ZERO_HASH:
                    raise ImportRefused(
                        f"line {number}: the first event of stream {event.stream_id} "
                        f"(version {event.stream_version}) links to another"
                    )
            elif head != (event.stream_version - 1, event.prev_hash):
                raise ImportRefused(
                    f"line {number}: event at position {event.position} does not follow "
                    f"version {head[0]} of stream {event.stream_id} (deleted, inserted or "
                    "reordered)"
                )
            heads[stream] = (event.stream_version, event.hash)
        for stream, (version, digest) in heads.items():
            self._known[stream] = version.to_bytes(8) + digest
            self._known.move_to_end(stream)
        while len(self._known) > _HEADS:
            self._known.popitem(last=False)

    async def _read_back(self, events: list[tuple[int, RecordedEvent]]) -> dict[bytes, _Head]:
        """The heads, before this batch, of the streams it goes on: kept or read back."""
        heads: dict[bytes, _Head] = {}
        seen: set[bytes] = set()
        wanted: list[UUID] = []
        for _, event in events:
            stream = event.stream_id.bytes
            if stream in seen:
                continue
            seen.add(stream)
            kept = self._known.get(stream)
            if kept is not None:
                heads[stream] = (int.from_bytes(kept[:8]), kept[8:])
            elif event.stream_version > 1:  # a first event needs no head read back
                wanted.append(event.stream_id)
        if wanted:
            rows = await self._conn.fetch(_READ_BACK, wanted)
            heads.update((row[0].bytes, (row[1], row[2])) for row in rows)
        return heads


_Head = tuple[int, bytes]  # a stream's last version and its hash

#: The last version and hash of each stream named, from what the import wrote.
_READ_BACK: Final = (
    "SELECT s.id, e.originator_version, e.hash FROM unnest($1::uuid[]) AS s(id) "
    "CROSS JOIN LATERAL (SELECT originator_version, hash FROM vibehq_events "
    "WHERE originator_id = s.id ORDER BY originator_version DESC LIMIT 1) AS e"
)
