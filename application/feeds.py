"""What the live feeds show: recorded events turned into stream messages.

The relay publishes every event as its envelope; browsers and terminals want the
short, typed messages of the contracts (a patch notification, an ops alert). The
mapping is pure, so it is the same for WebSocket, SSE and any other bridge. It reads
typed, upcast events (`EventCodec.decode_envelope`), never payload keys, so an event
published before a schema change shows the same as one published after.
"""

from __future__ import annotations

from typing import Final

from application.event_codec import EventCodec, event_types, to_envelope
from application.ports import EventStore
from domain.contracts import (
    EventEnvelope,
    Heartbeat,
    IncidentUpdate,
    OpsAlert,
    PatchNotification,
)
from domain.ops import INCIDENT_STEPS, OPS_EVENTS, Incident, OpsEvent, SourceHeartbeat
from domain.workspace import OUTCOME_OF, PATCH_OUTCOMES, Workspace

_CODEC: Final = EventCodec()
_PATCH_TYPES: Final = event_types(*PATCH_OUTCOMES)
_OPS_TYPES: Final = event_types(*OPS_EVENTS)

#: A message a feed sends (contrast `infrastructure.fanout.feed.FeedMessage`, what it reads).
LiveUpdate = PatchNotification | OpsAlert | Heartbeat | IncidentUpdate


async def whole_envelope(envelope: EventEnvelope, log: EventStore) -> EventEnvelope:
    """The envelope with its payload: one the relay published without it (too large for
    the broker, `payload_omitted`) is read back from the log."""
    if envelope.payload_omitted is None:
        return envelope
    found = await log.read_log(after_position=envelope.position - 1, limit=1)
    if not found or found[0].position != envelope.position:
        raise LookupError(f"no event at position {envelope.position} in this log")
    return to_envelope(found[0])


def patch_notification(envelope: EventEnvelope, seq: int) -> PatchNotification | None:
    if envelope.type not in _PATCH_TYPES:
        return None
    event = _CODEC.decode_envelope(envelope)
    assert isinstance(event, PATCH_OUTCOMES)
    changes = [] if isinstance(event, Workspace.PatchRejected) else event.changes
    return PatchNotification(
        workspace_id=envelope.stream_id,
        patch_id=event.patch_id,
        outcome=OUTCOME_OF[type(event)],
        version=envelope.stream_version,
        author=event.author,
        task_id=event.task_id,
        position=envelope.position,
        paths=[change.path for change in changes],
        seq=seq,
    )


def ops_message(envelope: EventEnvelope, seq: int) -> LiveUpdate | None:
    if envelope.type not in _OPS_TYPES:
        return None
    event = _CODEC.decode_envelope(envelope)
    if isinstance(event, OpsEvent.Reported):
        return OpsAlert(
            source=event.source,
            severity=event.severity,
            alert=event.kind,
            message=event.message,
            at=envelope.recorded_at,
            attributes=event.attributes,
            seq=seq,
        )
    if isinstance(event, SourceHeartbeat.Beat):
        return Heartbeat(source=event.source, at=envelope.recorded_at, status=event.status, seq=seq)
    if isinstance(event, Incident.Opened | Incident.Reopened):
        by, detail = event.by, event.title
    elif isinstance(event, Incident.Acknowledged | Incident.Resolved):
        by, detail = event.by, event.note
    else:
        return None
    return IncidentUpdate(
        incident_id=envelope.stream_id,
        step=INCIDENT_STEPS[type(event)],
        by=by,
        at=envelope.recorded_at,
        detail=detail,
        seq=seq,
    )
