"""In-memory stand-ins for the ports, for unit tests of domain and application only."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from application.ports import (
    AppendRequest,
    AppendResult,
    ConcurrencyConflict,
    IdempotencyKeyReused,
    RecordedEvent,
)


class InMemoryEventStore:
    """Keeps the EventStore contract (versions, idempotency) without a database."""

    def __init__(self) -> None:
        self.log: list[RecordedEvent] = []
        self._keys: dict[str, tuple[bytes, AppendResult]] = {}

    async def append(self, request: AppendRequest) -> AppendResult:
        if request.idempotency_key in self._keys:
            request_hash, result = self._keys[request.idempotency_key]
            if request_hash != request.request_hash:
                raise IdempotencyKeyReused(request.idempotency_key)
            return AppendResult(**{**_fields(result), "duplicate": True})
        version = await self.stream_version(request.stream_id)
        if version != request.expected_version:
            raise ConcurrencyConflict(request.stream_id, request.expected_version, version)
        now = datetime.now(UTC)
        first_position = len(self.log) + 1
        for offset, event in enumerate(request.events):
            self.log.append(
                RecordedEvent(
                    event_id=event.event_id,
                    stream_id=request.stream_id,
                    stream_type=request.stream_type,
                    stream_version=version + offset + 1,
                    position=first_position + offset,
                    event_type=event.event_type,
                    schema_version=event.schema_version,
                    recorded_at=now,
                    correlation_id=request.correlation_id,
                    causation_id=request.causation_id,
                    actor=request.actor,
                    trace_context=request.trace_context,
                    topic=event.topic,
                    state=event.state,
                )
            )
        result = AppendResult(
            stream_id=request.stream_id,
            first_version=version + 1,
            last_version=version + len(request.events),
            first_position=first_position,
            last_position=len(self.log),
            recorded_at=now,
        )
        if request.idempotency_key is not None:
            self._keys[request.idempotency_key] = (request.request_hash, result)
        return result

    async def read_stream(
        self, stream_id: UUID, *, after_version: int = 0, limit: int | None = None
    ) -> list[RecordedEvent]:
        events = [
            e for e in self.log if e.stream_id == stream_id and e.stream_version > after_version
        ]
        return events if limit is None else events[:limit]

    async def read_log(self, *, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        return [e for e in self.log if e.position > after_position][:limit]

    async def wait_for_events(self, *, after_position: int, timeout: float) -> bool:
        return any(e.position > after_position for e in self.log)

    async def stream_version(self, stream_id: UUID) -> int:
        return max((e.stream_version for e in self.log if e.stream_id == stream_id), default=0)


def _fields(result: AppendResult) -> dict[str, object]:
    return {name: getattr(result, name) for name in result.__struct_fields__}
