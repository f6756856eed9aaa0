"""The domain's rules for delivery status, incident steps and source health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from application.event_codec import EventCodec, event_type
from domain.delivery import Task, delivery_status, task_status, task_stream_id
from domain.errors import Refused
from domain.ops import Incident, IncidentTransitionRefused, incident_id, source_health

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_red_checks_outweigh_a_delivery() -> None:
    assert delivery_status(failing_checks=0, delivered=False) == "in_progress"
    assert delivery_status(failing_checks=0, delivered=True) == "delivered"
    assert delivery_status(failing_checks=1, delivered=True) == "failed"


def test_a_task_is_delivered_only_when_every_factory_delivered() -> None:
    assert task_status(["delivered", "delivered"]) == "delivered"
    assert task_status(["delivered", "in_progress"]) == "in_progress"
    assert task_status(["delivered", "failed"]) == "failed"
    assert task_status([]) == "in_progress"


def test_an_incident_moves_open_acknowledged_resolved_and_opens_again() -> None:
    incident = Incident(
        source="builder", kind="build", title="t", severity="error", by="m", cause_id=None
    )
    assert incident.id == incident_id("builder", "build")
    with pytest.raises(IncidentTransitionRefused):
        incident.reopen(title="t", severity="error", by="m", cause_id=None)
    incident.acknowledge(by="oncall", note="")
    with pytest.raises(IncidentTransitionRefused):
        incident.acknowledge(by="oncall", note="")
    incident.resolve(by="oncall", note="fixed")
    with pytest.raises(IncidentTransitionRefused):
        incident.resolve(by="oncall", note="")
    incident.reopen(title="again", severity="critical", by="m", cause_id=None)
    assert (incident.status, incident.occurrence) == ("open", 2)
    assert [type(e).__name__ for e in incident.collect_events()] == [
        "Opened",
        "Acknowledged",
        "Resolved",
        "Reopened",
    ]


def health(**overrides: object) -> str:
    facts: dict[str, object] = {
        "now": NOW,
        "heartbeat_at": NOW - timedelta(seconds=10),
        "heartbeat_status": "healthy",
        "heartbeat_interval_seconds": 30.0,
        "last_seen_at": NOW - timedelta(seconds=10),
        "recent_errors": 0,
        "open_incident_severity": None,
    }
    facts.update(overrides)
    return source_health(**facts)[0]  # type: ignore[arg-type]


def test_health_from_heartbeats_errors_and_incidents() -> None:
    assert health() == "healthy"
    assert health(heartbeat_at=NOW - timedelta(seconds=91)) == "stale"  # 3 intervals missed
    assert health(heartbeat_at=NOW - timedelta(seconds=89)) == "healthy"
    assert health(recent_errors=2) == "degraded"
    assert health(open_incident_severity="error") == "degraded"
    assert health(heartbeat_status="degraded") == "degraded"
    assert health(open_incident_severity="critical") == "down"
    assert health(heartbeat_status="down", recent_errors=5) == "down"
    assert health(heartbeat_at=None, heartbeat_status=None, last_seen_at=None) == "stale"
    assert health(heartbeat_at=None, heartbeat_status=None, heartbeat_interval_seconds=None) == (
        "healthy"  # a source that only sends events is healthy while they are not errors
    )


def test_a_task_is_its_openers_and_one_opened_before_owners_is_open_to_every_writer() -> None:
    task = Task(task_id="T-1", created_by="ui-factory")
    assert (task.access_of("ui-factory"), task.access_of("data-factory")) == ("owner", None)
    assert task.grant("data-factory", "read", by="ui-factory") is True
    assert task.grant("data-factory", "read", by="ui-factory") is False  # nothing new
    assert task.access_of("data-factory") == "read"
    with pytest.raises(Refused):
        task.grant("ui-factory", "write", by="ui-factory")
    assert task.revoke("data-factory", by="ui-factory") is True
    assert task.access_of("data-factory") is None

    # A v1 `Opened` (recorded before owners) reads with no owner: anyone may write.
    legacy = EventCodec().decode_payload(
        event_type(Task.Opened),
        task_stream_id("T-old"),
        1,
        {
            "task_id": "T-old",
            "timestamp": NOW.isoformat(),
            "originator_topic": "domain.delivery:Task",
        },
    )
    assert isinstance(legacy, Task.Opened)
    assert legacy.created_by == ""
    old = legacy.mutate(None)
    assert isinstance(old, Task)
    assert (old.owner, old.access_of("anyone")) == ("", "write")
