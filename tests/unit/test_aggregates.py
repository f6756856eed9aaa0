"""Saving and loading aggregates through the EventStore port (in-memory fake)."""

from __future__ import annotations

import uuid

import pytest

from application.aggregates import AggregateNotFound, AggregateRepository, CommandContext
from application.event_codec import EventCodec, to_envelope
from application.ports import ConcurrencyConflict
from domain.workspace import Workspace, WorkspaceArchived
from tests.unit.fakes import InMemoryEventStore


def context(actor: str = "factory:agent") -> CommandContext:
    return CommandContext(actor=actor, correlation_id=uuid.uuid4())


async def test_a_saved_workspace_loads_back_with_its_state() -> None:
    store = InMemoryEventStore()
    repository = AggregateRepository(store)
    workspace = Workspace(name="shop", created_by="factory:agent")

    result = await repository.save(workspace, context())
    loaded = await repository.get(workspace.id, Workspace)

    assert (result.first_version, result.last_version) == (1, 1)
    assert loaded.name == "shop"
    assert loaded.version == 1
    assert not loaded.archived


async def test_two_commands_decided_on_the_same_version_cannot_both_save() -> None:
    store = InMemoryEventStore()
    repository = AggregateRepository(store)
    workspace = Workspace(name="shop", created_by="factory:agent")
    await repository.save(workspace, context())

    first = await repository.get(workspace.id, Workspace)
    second = await repository.get(workspace.id, Workspace)
    first.archive(by="user:a")
    second.archive(by="user:b")
    await repository.save(first, context())

    with pytest.raises(ConcurrencyConflict):
        await repository.save(second, context())
    assert (await repository.get(workspace.id, Workspace)).archived_by == "user:a"


async def test_archiving_twice_is_refused_by_the_domain() -> None:
    workspace = Workspace(name="shop", created_by="factory:agent")
    workspace.archive(by="user:a")
    with pytest.raises(WorkspaceArchived):
        workspace.archive(by="user:a")


async def test_loading_an_unknown_aggregate_says_so() -> None:
    with pytest.raises(AggregateNotFound):
        await AggregateRepository(InMemoryEventStore()).get(uuid.uuid4(), Workspace)


async def test_saving_with_nothing_pending_is_an_error() -> None:
    repository = AggregateRepository(InMemoryEventStore())
    workspace = Workspace(name="shop", created_by="factory:agent")
    await repository.save(workspace, context())
    with pytest.raises(ValueError, match="no pending events"):
        await repository.save(workspace, context())


async def test_envelope_payload_is_plain_json_with_metadata() -> None:
    store = InMemoryEventStore()
    workspace = Workspace(name="shop", created_by="factory:agent")
    await AggregateRepository(store).save(workspace, context("factory:ui"))

    envelope = to_envelope(store.log[0])

    assert envelope.type == "Workspace.Created"
    assert envelope.stream_type == "Workspace"
    assert envelope.actor == "factory:ui"
    assert envelope.schema_version == 1
    assert envelope.payload["name"] == "shop"
    assert isinstance(envelope.payload["timestamp"], str)  # unwrapped from {"_type_": ...}
    assert "_type_" not in str(envelope.payload)


def test_codec_round_trips_a_domain_event() -> None:
    codec = EventCodec()
    workspace = Workspace(name="shop", created_by="factory:agent")
    (created,) = workspace.collect_events()
    new = codec.encode(created)

    from application.ports import RecordedEvent

    record = RecordedEvent(
        event_id=new.event_id,
        stream_id=workspace.id,
        stream_type="Workspace",
        stream_version=1,
        position=1,
        event_type=new.event_type,
        schema_version=1,
        recorded_at=created.timestamp,
        correlation_id=uuid.uuid4(),
        causation_id=None,
        actor="a",
        trace_context=None,
        topic=new.topic,
        state=new.state,
    )
    decoded = codec.decode(record)

    assert type(decoded) is type(created)
    assert decoded.__dict__ == created.__dict__
