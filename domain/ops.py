"""Ops: signals from services and factories, incidents, and what health they imply.

Signals (`OpsEvent`, `SourceHeartbeat`) are facts without invariants, so each is a
stream of its own: recording one never waits for or conflicts with another.

An `Incident` is the one with rules: it is opened (by an error-severity event or by
hand), acknowledged, resolved, and may open again later. There is one incident
stream per (source, kind), so two error events racing to open it meet in the event
store's optimistic concurrency and only one opens it; each opening is an
`occurrence`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.contracts import Health, HeartbeatStatus, IncidentStatus, IncidentStep, Severity
from domain.errors import Refused

INCIDENT_NAMESPACE: Final = UUID("0d9a7c1e-5b8e-4b43-8f55-3f4a8c2d9e61")
OPENS_INCIDENT: Final[frozenset[Severity]] = frozenset({"error", "critical"})
SEVERITY_RANK: Final[dict[Severity, int]] = {
    "debug": 0,
    "info": 1,
    "warning": 2,
    "error": 3,
    "critical": 4,
}
#: A heartbeat is stale after this many of its announced intervals without another.
STALE_AFTER_INTERVALS: Final = 3
#: Errors in this window degrade a source.
DEGRADING_WINDOW: Final = timedelta(minutes=5)


class IncidentTransitionRefused(Refused):
    """The incident is not in a state that allows the step (e.g. resolving twice)."""

    def __init__(self, incident_id: UUID, status: str, step: str) -> None:
        super().__init__(f"incident {incident_id} is {status}; it cannot be {step}")
        self.status = status


def incident_id(source: str, kind: str) -> UUID:
    return uuid5(INCIDENT_NAMESPACE, f"{source}\x1f{kind}")


class OpsEvent(Aggregate):
    """Something that happened in a service or factory."""

    class Reported(Aggregate.Created):
        source: str
        kind: str
        severity: Severity
        message: str
        attributes: dict[str, str]

    @event(Reported)
    def __init__(
        self, source: str, kind: str, severity: Severity, message: str, attributes: dict[str, str]
    ) -> None:
        self.source = source
        self.kind = kind
        self.severity = severity


class SourceHeartbeat(Aggregate):
    """A source saying it is alive, in what state, and when to expect it next."""

    class Beat(Aggregate.Created):
        source: str
        status: HeartbeatStatus
        interval_seconds: float

    @event(Beat)
    def __init__(self, source: str, status: HeartbeatStatus, interval_seconds: float) -> None:
        self.source = source


class Incident(Aggregate):
    """Something wrong at a source, followed until someone resolves it."""

    @staticmethod
    def create_id(source: str, kind: str, **_: object) -> UUID:
        return incident_id(source, kind)

    class Opened(Aggregate.Created):
        source: str
        kind: str
        title: str
        severity: Severity
        by: str
        cause_id: UUID | None

    class Reopened(Aggregate.Event):
        title: str
        severity: Severity
        by: str
        cause_id: UUID | None

    class Acknowledged(Aggregate.Event):
        by: str
        note: str

    class Resolved(Aggregate.Event):
        by: str
        note: str

    @event(Opened)
    def __init__(
        self,
        source: str,
        kind: str,
        title: str,
        severity: Severity,
        by: str,
        cause_id: UUID | None,
    ) -> None:
        self.source = source
        self.kind = kind
        self.status: IncidentStatus = "open"
        self.occurrence = 1

    @property
    def is_resolved(self) -> bool:
        return self.status == "resolved"

    def reopen(self, *, title: str, severity: Severity, by: str, cause_id: UUID | None) -> None:
        if not self.is_resolved:
            raise IncidentTransitionRefused(self.id, self.status, "opened again")
        self._reopened(title=title, severity=severity, by=by, cause_id=cause_id)

    def acknowledge(self, *, by: str, note: str) -> None:
        if self.status != "open":
            raise IncidentTransitionRefused(self.id, self.status, "acknowledged")
        self._acknowledged(by=by, note=note)

    def resolve(self, *, by: str, note: str) -> None:
        if self.is_resolved:
            raise IncidentTransitionRefused(self.id, self.status, "resolved")
        self._resolved(by=by, note=note)

    # -- events: these bodies also run on replay, so they only assign ------------------

    @event(Reopened)
    def _reopened(self, title: str, severity: Severity, by: str, cause_id: UUID | None) -> None:
        self.status = "open"
        self.occurrence += 1

    @event(Acknowledged)
    def _acknowledged(self, by: str, note: str) -> None:
        self.status = "acknowledged"

    @event(Resolved)
    def _resolved(self, by: str, note: str) -> None:
        self.status = "resolved"


#: Every event the ops context records.
OPS_EVENTS: Final = (
    OpsEvent.Reported,
    SourceHeartbeat.Beat,
    Incident.Opened,
    Incident.Reopened,
    Incident.Acknowledged,
    Incident.Resolved,
)
#: The steps of an incident, as feeds name them.
INCIDENT_STEPS: Final[dict[type, IncidentStep]] = {
    Incident.Opened: "opened",
    Incident.Reopened: "reopened",
    Incident.Acknowledged: "acknowledged",
    Incident.Resolved: "resolved",
}


def source_health(
    *,
    now: datetime,
    heartbeat_at: datetime | None,
    heartbeat_status: str | None,
    heartbeat_interval_seconds: float | None,
    last_seen_at: datetime | None,
    recent_errors: int,
    open_incident_severity: Severity | None,
) -> tuple[Health, str]:
    """A source's health and the reason, from what the ops read model knows of it.

    Worst first: a source that says it is down, or has an open critical incident, is
    down; one whose heartbeats stopped is stale (we no longer know); errors in the
    last five minutes, an open incident or a degraded heartbeat make it degraded.
    """
    if heartbeat_status == "down":
        return "down", "its last heartbeat said down"
    if open_incident_severity == "critical":
        return "down", "a critical incident is open"
    if heartbeat_at is not None and heartbeat_interval_seconds is not None:
        silent_for = (now - heartbeat_at).total_seconds()
        if silent_for > STALE_AFTER_INTERVALS * heartbeat_interval_seconds:
            return "stale", f"no heartbeat for {silent_for:.0f}s"
    if recent_errors:
        return "degraded", f"{recent_errors} error(s) in the last 5 minutes"
    if open_incident_severity is not None:
        return "degraded", "an incident is open"
    if heartbeat_status == "degraded":
        return "degraded", "its last heartbeat said degraded"
    if heartbeat_at is None and last_seen_at is None:
        return "stale", "never heard from"
    return "healthy", "heartbeats on time, no recent errors"
