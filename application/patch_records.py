"""Turn recorded Workspace events into `PatchRecord`s, the public form of an outcome."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from application.event_codec import EventCodec
from application.ports import RecordedEvent
from domain.contracts import PatchRecord
from domain.workspace import Workspace

OUTCOME_EVENTS = {
    Workspace.PatchApplied.__qualname__: "applied",  # type: ignore[attr-defined]
    Workspace.PatchRejected.__qualname__: "rejected",  # type: ignore[attr-defined]
    Workspace.PatchReverted.__qualname__: "reverted",  # type: ignore[attr-defined]
}


def is_outcome(record: RecordedEvent) -> bool:
    return record.event_type in OUTCOME_EVENTS


def patch_record(
    record: RecordedEvent, codec: EventCodec, *, duplicate: bool = False
) -> PatchRecord:
    """The PatchRecord for an outcome event (see `is_outcome`)."""
    return outcome_record(
        codec.decode(record),
        workspace_id=record.stream_id,
        version=record.stream_version,
        position=record.position,
        recorded_at=record.recorded_at,
        actor=record.actor,
        duplicate=duplicate,
    )


def outcome_record(
    event: Any,
    *,
    workspace_id: UUID,
    version: int,
    position: int,
    recorded_at: datetime,
    actor: str,
    duplicate: bool = False,
) -> PatchRecord:
    """The PatchRecord for an outcome domain event and where the store put it.

    Lets a command answer from the event it just appended instead of reading it back.
    """
    outcome = OUTCOME_EVENTS[type(event).__qualname__]
    common: dict[str, Any] = {
        "patch_id": event.patch_id,
        "workspace_id": workspace_id,
        "outcome": outcome,
        "version": version,
        "position": position,
        "recorded_at": recorded_at,
        "actor": actor,
        "author": event.author,
        "task_id": event.task_id,
        "duplicate": duplicate,
    }
    if outcome == "rejected":
        return PatchRecord(
            **common,
            base_version=event.base_version,
            reason=event.reason,
            operation=event.operation,
            path=event.path,
            detail=event.message,
            conflicts=list(event.conflicts),
        )
    changes = list(event.changes)
    return PatchRecord(
        **common,
        message=event.message,
        base_version=getattr(event, "base_version", None),
        changes=changes,
        lines_added=sum(c.lines_added for c in changes),
        lines_removed=sum(c.lines_removed for c in changes),
        reverted_patch_id=getattr(event, "reverted_patch_id", None),
    )
