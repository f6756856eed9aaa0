"""Load and save eventsourcing aggregates through the `EventStore` port.

The use cases decide on an aggregate loaded here and save its pending events in one
append, with optimistic concurrency on the version they loaded: a concurrent change
makes the save fail instead of being overwritten.

With a `SnapshotStore`, loading reads the newest snapshot and only the events after
it, so a command's cost does not grow with the stream's history. Snapshots are
derived data: taken after a save crosses a multiple of `snapshot_every`, written
outside the command's transaction, and safe to delete.

With an `AggregateCache`, a command `checkout`s the aggregate the last save in this
process left behind and loads nothing at all; the append's version check is what
makes that safe (see application/caches.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TypeVar, cast
from uuid import UUID

import msgspec
from eventsourcing.domain import Aggregate
from msgspec import Struct

from application.caches import AggregateCache
from application.event_codec import EventCodec
from application.ports import (
    AppendRequest,
    AppendResult,
    EventStore,
    Masks,
    NewEvent,
    SnapshotStore,
)
from domain.contracts import TraceContext
from domain.errors import Invalid, NotFound

A = TypeVar("A", bound=Aggregate)

log = logging.getLogger(__name__)


class AggregateNotFound(NotFound):
    def __init__(self, aggregate_id: UUID) -> None:
        super().__init__(f"no aggregate with id {aggregate_id}")
        self.aggregate_id = aggregate_id


class EventTooLarge(Invalid):
    """An event would be larger than the log accepts (`VIBEHQ_MAX_EVENT_BYTES`)."""

    code = "event_too_large"

    def __init__(self, event_type: str, size: int, limit: int) -> None:
        super().__init__(
            f"the {event_type} event this request would record is {size:,} bytes; "
            f"the limit is {limit:,} (VIBEHQ_MAX_EVENT_BYTES): send less at once"
        )
        self.size = size
        self.limit = limit


#: Default of `AggregateRepository(max_event_bytes=...)` and of VIBEHQ_MAX_EVENT_BYTES.
MAX_EVENT_BYTES = 512 * 1024


class CommandContext(Struct, frozen=True):
    """Who asked for a change and why: recorded on every event the command produces."""

    actor: str
    correlation_id: UUID
    causation_id: UUID | None = None
    idempotency_key: str | None = None
    request_hash: bytes = b""
    trace_context: TraceContext | None = None
    token_id: UUID | None = None
    #: The caller's token has the `admin` scope: access checks let it through.
    admin: bool = False


class AggregateRepository:
    def __init__(
        self,
        store: EventStore,
        codec: EventCodec | None = None,
        *,
        snapshots: SnapshotStore | None = None,
        snapshot_every: int = 100,
        cache: AggregateCache | None = None,
        max_event_bytes: int = MAX_EVENT_BYTES,
        masks: Masks | None = None,
    ) -> None:
        self._store = store
        self._max_event_bytes = max_event_bytes
        self._masks = masks
        self._codec = codec or EventCodec()
        self._snapshots = snapshots
        self._snapshot_every = snapshot_every
        self._cache = cache if cache is not None else AggregateCache(0)

    async def checkout(self, aggregate_id: UUID, cls: type[A]) -> A:
        """The aggregate for a command to decide on and `save`: cached, else loaded.

        A cached one may be behind the store (another process appended); saving it
        then raises ConcurrencyConflict, and the retry's checkout loads afresh.
        """
        cached = self._cache.take(aggregate_id)
        if isinstance(cached, cls):
            return cached
        return await self.get(aggregate_id, cls)

    async def get(self, aggregate_id: UUID, cls: type[A], *, version: int | None = None) -> A:
        """The aggregate as of `version` (default: its latest event).

        Raises AggregateNotFound if it has no events up to that version.
        """
        aggregate: Aggregate | None = None
        after = 0
        if self._snapshots is not None:
            snapshot = await self._snapshots.latest(aggregate_id, at_most=version)
            if snapshot is not None:
                aggregate = self._codec.decode_snapshot(snapshot)
                after = snapshot.version
        limit = None if version is None else max(version - after, 0)
        if limit != 0:
            records = await self._store.read_stream(aggregate_id, after_version=after, limit=limit)
            for record in records:
                domain_event = cast(Aggregate.Event, self._codec.decode(record))
                aggregate = domain_event.mutate(aggregate)
        if aggregate is None or not isinstance(aggregate, cls):
            raise AggregateNotFound(aggregate_id)
        return aggregate

    async def save(
        self,
        aggregate: Aggregate,
        context: CommandContext,
        *,
        blobs: Mapping[str, bytes] | None = None,
    ) -> AppendResult:
        """Append the aggregate's pending events (and blobs) at the version it was loaded at."""
        pending = aggregate.collect_events()
        if not pending:
            raise ValueError("nothing to save: the aggregate has no pending events")
        events = [self._codec.encode(event) for event in pending]
        masked = self._masked(events)
        events = masked or events
        for event in events:
            if len(event.state) > self._max_event_bytes:
                raise EventTooLarge(event.event_type, len(event.state), self._max_event_bytes)
        result = await self._store.append(
            AppendRequest(
                stream_id=aggregate.id,
                stream_type=type(aggregate).__name__,
                expected_version=pending[0].originator_version - 1,
                events=events,
                actor=context.actor,
                correlation_id=context.correlation_id,
                causation_id=context.causation_id,
                idempotency_key=context.idempotency_key,
                request_hash=context.request_hash,
                trace_context=context.trace_context,
                blobs=dict(blobs or {}),
                token_id=context.token_id,
            )
        )
        if not result.duplicate and masked is None:
            # A masked aggregate differs from what was stored: the next use loads it.
            self._cache.keep(aggregate)
            await self._maybe_snapshot(aggregate, first_version=result.first_version)
        return result

    def _masked(self, events: list[NewEvent]) -> list[NewEvent] | None:
        """The events with every secret value the process holds masked, or None when
        none holds one: no secret is recorded, whatever field a writer put it in (a
        check's summary, an alert's message)."""
        if self._masks is None or not len(self._masks):
            return None
        changed = False
        masked: list[NewEvent] = []
        for event in events:
            text = event.state.decode()
            cleaned = self._masks.redact(text)
            if cleaned != text:
                changed = True
                msgspec.json.decode(cleaned)  # still JSON: names need no escaping
                event = msgspec.structs.replace(event, state=cleaned.encode())
            masked.append(event)
        return masked if changed else None

    async def _maybe_snapshot(self, aggregate: Aggregate, *, first_version: int) -> None:
        every = self._snapshot_every
        if self._snapshots is None or aggregate.version // every == (first_version - 1) // every:
            return
        try:
            await self._snapshots.save(self._codec.encode_snapshot(aggregate))
        except Exception:  # a missed snapshot only costs speed, never correctness
            log.warning(
                "could not snapshot %s at version %d",
                aggregate.id,
                aggregate.version,
                exc_info=True,
            )
