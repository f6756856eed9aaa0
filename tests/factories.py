"""Small builders for test data, so tests say what matters and nothing else."""

from __future__ import annotations

import uuid
from uuid import UUID

from application.ports import AppendRequest, NewEvent


def new_event(event_type: str = "Touched", body: bytes = b'{"n":1}') -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(),
        event_type=event_type,
        schema_version=1,
        topic=f"tests:{event_type}",
        state=body,
    )


def append_request(
    stream_id: UUID | None = None,
    *,
    expected_version: int = 0,
    count: int = 1,
    idempotency_key: str | None = None,
    request_hash: bytes = b"",
    actor: str = "factory:test",
) -> AppendRequest:
    return AppendRequest(
        stream_id=stream_id or uuid.uuid4(),
        stream_type="TestStream",
        expected_version=expected_version,
        events=[new_event() for _ in range(count)],
        actor=actor,
        correlation_id=uuid.uuid4(),
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )
