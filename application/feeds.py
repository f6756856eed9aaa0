"""What the live feeds show: recorded events turned into stream messages.

The relay publishes every event as its envelope; browsers and terminals want the
short, typed messages of the contracts (a patch notification, an ops alert). The
mapping is pure, so it is the same for WebSocket, SSE and any other bridge.
"""

from __future__ import annotations

from typing import Any, Final
from uuid import UUID

from domain.contracts import (
    EventEnvelope,
    Heartbeat,
    IncidentStep,
    IncidentUpdate,
    OpsAlert,
    PatchNotification,
    PatchOutcome,
)

_OUTCOMES: Final[dict[str, PatchOutcome]] = {
    "Workspace.PatchApplied": "applied",
    "Workspace.PatchRejected": "rejected",
    "Workspace.PatchReverted": "reverted",
}
_INCIDENT_STEPS: Final[dict[str, IncidentStep]] = {
    "Incident.Opened": "opened",
    "Incident.Reopened": "reopened",
    "Incident.Acknowledged": "acknowledged",
    "Incident.Resolved": "resolved",
}

FeedMessage = PatchNotification | OpsAlert | Heartbeat | IncidentUpdate


def patch_notification(envelope: EventEnvelope, seq: int) -> PatchNotification | None:
    outcome = _OUTCOMES.get(envelope.type)
    if outcome is None:
        return None
    payload = envelope.payload
    changes: list[dict[str, Any]] = payload.get("changes", [])
    return PatchNotification(
        workspace_id=envelope.stream_id,
        patch_id=UUID(payload["patch_id"]),
        outcome=outcome,
        version=envelope.stream_version,
        author=payload["author"],
        task_id=payload["task_id"],
        position=envelope.position,
        paths=[change["path"] for change in changes],
        seq=seq,
    )


def ops_message(envelope: EventEnvelope, seq: int) -> FeedMessage | None:
    payload = envelope.payload
    if envelope.type == "OpsEvent.Reported":
        return OpsAlert(
            source=payload["source"],
            severity=payload["severity"],
            alert=payload["kind"],
            message=payload["message"],
            at=envelope.recorded_at,
            attributes=payload["attributes"],
            seq=seq,
        )
    if envelope.type == "SourceHeartbeat.Beat":
        return Heartbeat(
            source=payload["source"], at=envelope.recorded_at, status=payload["status"], seq=seq
        )
    step = _INCIDENT_STEPS.get(envelope.type)
    if step is not None:
        return IncidentUpdate(
            incident_id=envelope.stream_id,
            step=step,
            by=payload["by"],
            at=envelope.recorded_at,
            detail=payload.get("title") or payload.get("note") or "",
            seq=seq,
        )
    return None
