"""Load and save eventsourcing aggregates through the `EventStore` port.

The use cases (patch manager, delivery, ops) decide on an aggregate loaded here and
save its pending events in one append, with optimistic concurrency on the version
they loaded: a concurrent change makes the save fail instead of being overwritten.
"""

from __future__ import annotations

from typing import TypeVar, cast
from uuid import UUID

from eventsourcing.domain import Aggregate
from msgspec import Struct

from application.event_codec import EventCodec
from application.ports import AppendRequest, AppendResult, EventStore
from domain.contracts import TraceContext

A = TypeVar("A", bound=Aggregate)


class AggregateNotFound(LookupError):
    def __init__(self, aggregate_id: UUID) -> None:
        super().__init__(f"no aggregate with id {aggregate_id}")
        self.aggregate_id = aggregate_id


class CommandContext(Struct, frozen=True):
    """Who asked for a change and why: recorded on every event the command produces."""

    actor: str
    correlation_id: UUID
    causation_id: UUID | None = None
    idempotency_key: str | None = None
    request_hash: bytes = b""
    trace_context: TraceContext | None = None


class AggregateRepository:
    def __init__(self, store: EventStore, codec: EventCodec | None = None) -> None:
        self._store = store
        self._codec = codec or EventCodec()

    async def get(self, aggregate_id: UUID, cls: type[A]) -> A:
        """The aggregate as of its latest event (raises AggregateNotFound)."""
        records = await self._store.read_stream(aggregate_id)
        aggregate: Aggregate | None = None
        for record in records:
            domain_event = cast(Aggregate.Event, self._codec.decode(record))
            aggregate = domain_event.mutate(aggregate)
        if aggregate is None:
            raise AggregateNotFound(aggregate_id)
        if not isinstance(aggregate, cls):
            raise AggregateNotFound(aggregate_id)
        return aggregate

    async def save(self, aggregate: Aggregate, context: CommandContext) -> AppendResult:
        """Append the aggregate's pending events at the version it was loaded at."""
        pending = aggregate.collect_events()
        if not pending:
            raise ValueError("nothing to save: the aggregate has no pending events")
        return await self._store.append(
            AppendRequest(
                stream_id=aggregate.id,
                stream_type=type(aggregate).__name__,
                expected_version=pending[0].originator_version - 1,
                events=[self._codec.encode(event) for event in pending],
                actor=context.actor,
                correlation_id=context.correlation_id,
                causation_id=context.causation_id,
                idempotency_key=context.idempotency_key,
                request_hash=context.request_hash,
                trace_context=context.trace_context,
            )
        )
