"""An event recorded before a schema change reads as the current class everywhere.

The log is immutable, so a v1 event stays v1 in PostgreSQL forever. Here three events are
stored as an older build would have written them (without a field the current classes
have), then the classes move to v2 with an upcaster that fills the field in, as
docs/event-store.md says a change that is not "a new field with a default" must. Every
reader (every projection, the feeds, the relay's subjects, `tail`) must see the v2
form: none reads the stored JSON by key.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import msgspec
import pytest

from application.event_codec import EventCodec, to_envelope
from application.feeds import ops_message
from application.ports import AppendRequest, NewEvent, RecordedEvent
from domain.contracts import OpsAlert
from domain.delivery import Task
from domain.ops import OpsEvent
from domain.workspace import Workspace
from infrastructure.event_store.postgres_store import PostgresEventStore
from infrastructure.fanout.subjects import Subjects
from infrastructure.projections.delivery import DeliveryProjection
from infrastructure.projections.ops import OpsProjection
from infrastructure.projections.workspaces import WorkspaceListProjection
from interfaces.cli.tail import event_detail
from tests.integration.followers import rebuilt_from_scratch

CODEC = EventCodec()


def _as_v1(event: Any, *, without: tuple[str, ...]) -> NewEvent:
    """`event` serialised as a build before v2 would have: without the v2 fields."""
    new = CODEC.encode(event)
    state = msgspec.json.decode(new.state)
    for name in without:
        state.pop(name, None)
    return msgspec.structs.replace(new, schema_version=1, state=msgspec.json.encode(state))


async def _store_v1(
    store: PostgresEventStore, stream_type: str, aggregate: Any, *, without: tuple[str, ...]
) -> None:
    events = [_as_v1(e, without=without) for e in aggregate.collect_events()]
    await store.append(
        AppendRequest(
            stream_id=aggregate.id,
            stream_type=stream_type,
            expected_version=0,
            events=events,
            actor="old-build",
            correlation_id=uuid.uuid4(),
        )
    )


def _upcast_delivered(state: dict[str, Any]) -> None:
    state["artefacts"] = ["recorded-before-v2"]
    state["cost"] = None


def _upcast_reported(state: dict[str, Any]) -> None:
    state["attributes"] = {"recorded": "before-v2"}


def _upcast_created(state: dict[str, Any]) -> None:
    state["created_by"] = "creator-before-v2"


@pytest.fixture
def v2_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The classes as the next build has them: v2, with an upcaster from v1."""
    monkeypatch.setattr(Task.Delivered, "class_version", 2, raising=False)
    monkeypatch.setattr(
        Task.Delivered, "upcast_v1_v2", staticmethod(_upcast_delivered), raising=False
    )
    monkeypatch.setattr(Workspace.Created, "class_version", 2, raising=False)
    monkeypatch.setattr(
        Workspace.Created, "upcast_v1_v2", staticmethod(_upcast_created), raising=False
    )
    monkeypatch.setattr(OpsEvent.Reported, "class_version", 2, raising=False)
    monkeypatch.setattr(
        OpsEvent.Reported, "upcast_v1_v2", staticmethod(_upcast_reported), raising=False
    )


async def _log(store: PostgresEventStore) -> list[RecordedEvent]:
    return await store.read_log(after_position=0, limit=100)


async def test_a_v1_event_in_the_log_is_read_as_v2_by_every_reader(
    database_url: str, pool: asyncpg.Pool, store: PostgresEventStore, request: Any
) -> None:
    task = Task(task_id="T-1", created_by="ui-factory")
    task.deliver(
        factory="ui-factory",
        summary="done",
        workspace_id=uuid.uuid4(),
        final_version=3,
        artefacts=["ignored"],
        cost=None,
    )
    await _store_v1(store, "Task", task, without=("artefacts", "cost"))
    alarm = OpsEvent(
        source="builder", kind="build_failed", severity="error", message="exit 2", attributes={}
    )
    await _store_v1(store, "OpsEvent", alarm, without=("attributes",))
    await _store_v1(
        store, "Workspace", Workspace(name="shop", created_by="x"), without=("created_by",)
    )

    request.getfixturevalue("v2_classes")  # the new build starts here

    delivery = await rebuilt_from_scratch(database_url, store, DeliveryProjection())
    [report] = delivery["delivery_reports"]
    assert "recorded-before-v2" in report

    ops = await rebuilt_from_scratch(database_url, store, OpsProjection())
    [alert] = ops["ops_alerts"]
    assert "before-v2" in alert

    listed = await rebuilt_from_scratch(database_url, store, WorkspaceListProjection())
    [workspace] = listed["workspaces"]
    assert "creator-before-v2" in workspace

    records = await _log(store)
    reported = next(r for r in records if r.stream_type == "OpsEvent")
    envelope = to_envelope(reported)
    assert "attributes" not in envelope.payload  # what the log holds is still v1
    message = ops_message(envelope, seq=1)
    assert isinstance(message, OpsAlert)
    assert message.attributes == {"recorded": "before-v2"}
    assert Subjects("vibehq").for_event(reported) == "vibehq.ops.error.builder"

    delivered = next(r for r in records if r.stream_type == "Task" and r.stream_version == 2)
    typed = CODEC.decode_envelope(to_envelope(delivered))
    assert isinstance(typed, Task.Delivered)
    assert typed.artefacts == ["recorded-before-v2"]
    assert event_detail(typed) == "task T-1 delivered by ui-factory at v3"


async def test_stored_rows_and_published_envelopes_decode_to_the_same_event(
    store: PostgresEventStore, pool: asyncpg.Pool
) -> None:
    from tests.integration.workload import record_workload

    await record_workload(store, pool, rounds=3)
    records = await store.read_log(after_position=0, limit=1000)
    kinds = {r.event_type for r in records}
    assert len(kinds) >= 8  # patches of each outcome, tasks, ops signals, incidents
    for record in records:
        from_row = CODEC.decode(record)
        from_envelope = CODEC.decode_envelope(to_envelope(record))
        assert type(from_row) is type(from_envelope)
        # (a tuple field reads back as a list from the stored JSON: compare as the wire does)
        assert msgspec.json.encode(from_row.__dict__, order="sorted") == msgspec.json.encode(
            from_envelope.__dict__, order="sorted"
        ), record.event_type
