"""Turn recorded Workspace events into `PatchRecord`s, the public form of an outcome."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from uuid import UUID

from application.event_codec import EventCodec, event_types
from application.ports import RecordedEvent
from domain.contracts import PatchRecord
from domain.workspace import OUTCOME_OF, PATCH_OUTCOMES, Workspace

_OUTCOME_TYPES: Final = event_types(*PATCH_OUTCOMES)

Outcome = Workspace.PatchApplied | Workspace.PatchRejected | Workspace.PatchReverted


def is_outcome(record: RecordedEvent) -> bool:
    return record.event_type in _OUTCOME_TYPES


def patch_record(
    record: RecordedEvent, codec: EventCodec, *, duplicate: bool = False
) -> PatchRecord:
    """The PatchRecord for an outcome event (see `is_outcome`)."""
    event = codec.decode(record)
    assert isinstance(event, PATCH_OUTCOMES)
    return outcome_record(
        event,
        workspace_id=record.stream_id,
        version=record.stream_version,
        position=record.position,
        recorded_at=record.recorded_at,
        actor=record.actor,
        duplicate=duplicate,
    )


def outcome_record(
    event: Outcome,
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
    outcome = OUTCOME_OF[type(event)]
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
    if isinstance(event, Workspace.PatchRejected):
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
        base_version=event.base_version if isinstance(event, Workspace.PatchApplied) else None,
        changes=changes,
        lines_added=sum(c.lines_added for c in changes),
        lines_removed=sum(c.lines_removed for c in changes),
        reverted_patch_id=(
            event.reverted_patch_id if isinstance(event, Workspace.PatchReverted) else None
        ),
        tolerances=list(event.tolerances) if isinstance(event, Workspace.PatchApplied) else [],
    )
