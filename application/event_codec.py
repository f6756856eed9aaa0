"""Between domain events and stored rows, with the `eventsourcing` library's own mapper.

Using its Mapper and the same transcodings its Application registers by default
(UUID as hex, Decimal as str, datetime as ISO) is what lets an eventsourcing
Application read our aggregates back, and gives us its `class_version` upcasting.

Every reader gets typed events, never a payload dict: projections decode stored rows
(`EventCodec.decode`, the aggregates' own path), and the consumers of published
envelopes (feeds, `vibehq tail`) decode those (`EventCodec.decode_envelope`) through
the same `upcast_vN_vN+1` methods, so an event recorded before a schema change reads
as the current class everywhere. How an event may evolve: docs/event-store.md.
"""

from __future__ import annotations

import contextlib
from typing import Any, Final, cast
from uuid import UUID

import msgspec
from eventsourcing.domain import Aggregate, DomainEventProtocol, Snapshot
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
    UUIDAsHex,
)

from application.ports import NewEvent, RecordedEvent, StoredSnapshot
from domain.contracts import (
    CheckRun,
    Cost,
    EnvBinding,
    EventEnvelope,
    FileChange,
    FileEntry,
    LimitPolicySpec,
    PathConflict,
    Tolerance,
)
from domain.delivery import TASK_EVENTS
from domain.env_profiles import ENV_PROFILE_EVENTS
from domain.ids import new_id
from domain.limit_policies import LIMIT_POLICY_EVENTS
from domain.ops import OPS_EVENTS
from domain.secrets import SECRET_EVENTS, Grant, SealedVersion
from domain.workspace import WORKSPACE_EVENTS, Workspace

AnyEvent = DomainEventProtocol[UUID]


def event_type(cls: type) -> str:
    """An event class's stored, published and public name: `Workspace.PatchApplied`.

    It is the class's qualified name, so renaming a class is a breaking change.
    """
    return cls.__qualname__


def event_types(*classes: type) -> frozenset[str]:
    """The names of `classes`, for the cheap test a reader makes before decoding."""
    return frozenset(event_type(cls) for cls in classes)


#: Every event class this build records, by name: each context lists its own.
EVENT_CLASSES: Final[dict[str, type]] = {
    event_type(cls): cls
    for cls in (
        *WORKSPACE_EVENTS,
        *TASK_EVENTS,
        *OPS_EVENTS,
        *SECRET_EVENTS,
        *ENV_PROFILE_EVENTS,
        *LIMIT_POLICY_EVENTS,
    )
}


class UnknownEventType(LookupError):
    """An envelope names an event class this build does not have (a newer writer's)."""


class StructAsDict(Transcoding):
    """Stores a contract struct inside an event as its plain JSON form, less the fields
    that hold their default (decoding puts them back).

    A patch's file change is mostly defaults (`renamed_from: null`, `binary: false`):
    leaving them out cut the stored payload of a patch event by 10-15 %. Events stored
    with every field read the same; the digest covers the bytes as stored.
    """

    def __init__(self, struct_type: type[msgspec.Struct]) -> None:
        self.type = struct_type
        self.name = struct_type.__name__
        #: (attribute, JSON key, default value): a factory's value is made once, here.
        self._defaults = [
            (
                field.name,
                field.encode_name,
                field.default_factory()
                if field.default_factory is not msgspec.NODEFAULT
                else field.default,
            )
            for field in msgspec.structs.fields(struct_type)
            if field.default is not msgspec.NODEFAULT
            or field.default_factory is not msgspec.NODEFAULT
        ]

    def encode(self, obj: Any) -> Any:
        data: dict[str, Any] = msgspec.to_builtins(obj)
        for name, key, default in self._defaults:
            value = getattr(obj, name)
            if type(value) is type(default) and value == default:
                del data[key]
        return data

    def decode(self, data: Any) -> Any:
        return msgspec.convert(data, self.type)


#: Contract structs that domain events carry as attributes.
EVENT_STRUCTS: tuple[type[msgspec.Struct], ...] = (
    FileEntry,
    FileChange,
    PathConflict,
    CheckRun,
    Cost,
    Tolerance,
    SealedVersion,
    Grant,
    EnvBinding,
    LimitPolicySpec,
)


def register_transcodings(transcoder: JSONTranscoder) -> None:
    """What an eventsourcing Application must register to read our events."""
    transcoder.register(UUIDAsHex())
    transcoder.register(DecimalAsStr())
    transcoder.register(DatetimeAsISO())
    for struct_type in EVENT_STRUCTS:
        transcoder.register(StructAsDict(struct_type))


def _default_mapper() -> Mapper[UUID]:
    transcoder = JSONTranscoder()
    register_transcodings(transcoder)
    return Mapper(transcoder=transcoder)


class EventCodec:
    """Serialises domain events for the store and turns stored rows back into them."""

    def __init__(self, mapper: Mapper[UUID] | None = None) -> None:
        self._mapper = mapper or _default_mapper()

    def encode(self, domain_event: AnyEvent) -> NewEvent:
        """Serialise; a workspace's patch outcome is stored under its `patch_id`.

        So a patch is found by the event store's unique index on event ids, with no
        separate table to keep in step. (Other events may *refer* to a patch by a
        `patch_id`; only the workspace's own outcome events are the patch.)
        """
        stored = self._mapper.to_stored_event(domain_event)
        event_class = type(domain_event)
        is_outcome = isinstance(domain_event, Workspace.Event)
        patch_id = getattr(domain_event, "patch_id", None) if is_outcome else None
        return NewEvent(
            event_id=patch_id if isinstance(patch_id, UUID) else new_id(),
            event_type=event_type(event_class),
            schema_version=getattr(event_class, "class_version", 1),
            topic=stored.topic,
            state=stored.state,
        )

    def decode(self, record: RecordedEvent) -> AnyEvent:
        """The typed, upcast domain event of a stored row."""
        return self._mapper.to_domain_event(
            StoredEvent(record.stream_id, record.stream_version, record.topic, record.state)
        )

    def decode_envelope(self, envelope: EventEnvelope) -> AnyEvent:
        """The typed, upcast domain event of a published envelope (its plain payload)."""
        return self.decode_payload(
            envelope.type, envelope.stream_id, envelope.stream_version, envelope.payload
        )

    def decode_payload(
        self, event_type: str, stream_id: UUID, stream_version: int, payload: dict[str, Any]
    ) -> AnyEvent:
        """The typed, upcast domain event of a plain payload (`plain_payload`'s form).

        Upcasts exactly as the mapper does for stored rows (`Mapper.to_domain_event`):
        the payload's `class_version` (stored only above 1) is where the class's
        `upcast_vN_vN+1` methods start.
        """
        cls = EVENT_CLASSES.get(event_type)
        if cls is None:
            raise UnknownEventType(f"no event class named {event_type!r} in this build")
        state = dict(payload)
        state["originator_id"] = stream_id
        state["originator_version"] = stream_version
        from_version = state.pop("class_version", 1)
        while from_version < getattr(cls, "class_version", 1):
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        return cast(AnyEvent, msgspec.convert(state, cls, strict=False))

    def encode_snapshot(self, aggregate: Aggregate) -> StoredSnapshot:
        stored = self._mapper.to_stored_event(Snapshot.take(aggregate))
        return StoredSnapshot(aggregate.id, aggregate.version, stored.topic, stored.state)

    def decode_snapshot(self, snapshot: StoredSnapshot) -> Aggregate:
        event = self._mapper.to_domain_event(
            StoredEvent(snapshot.stream_id, snapshot.version, snapshot.topic, snapshot.state)
        )
        return cast(Aggregate, cast(Snapshot, event).mutate(None))


def plain_payload(state: bytes) -> dict[str, Any]:
    """The event's state as plain JSON values, for readers that do not import our classes.

    eventsourcing wraps non-JSON values as {"_type_": name, "_data_": value}; clients
    want the value itself (a UUID's hex becomes its canonical string form). A contract
    struct comes out whole, its defaults put back, however it was stored; one stored
    before its struct gained a required field comes out as it was stored.
    """
    return cast(dict[str, Any], _unwrap(msgspec.json.decode(state)))


_STRUCTS_BY_NAME: Final = {struct.__name__: struct for struct in EVENT_STRUCTS}


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            kind, data = value["_type_"], value["_data_"]
            if kind == "uuid_hex":
                return str(UUID(data))
            struct = _STRUCTS_BY_NAME.get(kind)
            if struct is not None:
                with contextlib.suppress(msgspec.ValidationError):  # shaped before a change
                    return msgspec.to_builtins(msgspec.convert(data, struct))
            return _unwrap(data)
        return {key: _unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unwrap(item) for item in value]
    return value


def to_envelope(record: RecordedEvent) -> EventEnvelope:
    """The public form of a stored event."""
    return EventEnvelope(
        id=record.event_id,
        stream_id=record.stream_id,
        stream_type=record.stream_type,
        stream_version=record.stream_version,
        position=record.position,
        type=record.event_type,
        schema_version=record.schema_version,
        recorded_at=record.recorded_at,
        correlation_id=record.correlation_id,
        causation_id=record.causation_id,
        actor=record.actor,
        trace_context=record.trace_context,
        payload=plain_payload(record.state),
    )
