"""JetStream stream configuration: declared by settings, reconciled at start-up.

The streams' replicas, storage, retention and placement come from settings
(`StreamSettings`). At start (and at every relay restart) each stream is compared
with them: a missing stream is created; a difference JetStream can apply in place
(more replicas, another max age, our subjects, the duplicate window) is applied and
logged on one line; an operator's higher replica count is kept, never lowered; and
what JetStream cannot change in place (storage, placement) stops the start with a
message that says what differs and how to resolve it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Final

from nats.js import JetStreamContext
from nats.js.api import Placement, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from infrastructure.embedded.common import EngineError
from infrastructure.fanout.subjects import Subjects
from infrastructure.settings import Settings

log = logging.getLogger(__name__)

#: How long JetStream remembers a Nats-Msg-Id to drop a redelivered duplicate.
DUPLICATE_WINDOW: Final = 10 * 60.0
HOUR: Final = 3600.0


@dataclass(frozen=True)
class StreamSettings:
    """What the streams should be (VIBEHQ_NATS_* settings)."""

    replicas: int = 1
    storage: str = "file"
    events_max_age_hours: float = 7 * 24.0
    terminal_max_age_hours: float = 24.0
    cluster: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def placement(self) -> Placement | None:
        if self.cluster is None and not self.tags:
            return None
        return Placement(cluster=self.cluster, tags=list(self.tags) or None)


def stream_settings(settings: Settings) -> StreamSettings:
    tags = tuple(settings.nats_tags.split(",")) if settings.nats_tags else ()
    return StreamSettings(
        replicas=settings.nats_replicas,
        storage=settings.nats_storage,
        events_max_age_hours=settings.nats_events_hours,
        terminal_max_age_hours=settings.nats_terminal_hours,
        cluster=settings.nats_cluster,
        tags=tags,
    )


class StreamConflict(EngineError):
    """A live stream differs from the settings in a way JetStream cannot change."""


def stream_configs(
    subjects: Subjects, declared: StreamSettings | None = None
) -> list[StreamConfig]:
    declared = declared or StreamSettings()
    storage = StorageType(declared.storage)
    return [
        StreamConfig(
            name=subjects.events_stream,
            description="Core Vibe HQ events, published by the outbox relay",
            subjects=subjects.events_filters,
            retention=RetentionPolicy.LIMITS,
            storage=storage,
            num_replicas=declared.replicas,
            placement=declared.placement,
            max_age=declared.events_max_age_hours * HOUR,
            duplicate_window=DUPLICATE_WINDOW,
        ),
        StreamConfig(
            name=subjects.terminal_stream,
            description="Terminal output of agent sessions",
            subjects=subjects.terminal_filters,
            retention=RetentionPolicy.LIMITS,
            storage=storage,
            num_replicas=declared.replicas,
            placement=declared.placement,
            max_age=declared.terminal_max_age_hours * HOUR,
            duplicate_window=DUPLICATE_WINDOW,
        ),
    ]


async def ensure_streams(
    js: JetStreamContext, subjects: Subjects, declared: StreamSettings | None = None
) -> None:
    """Create our streams, or bring an existing one in line with the settings."""
    for wanted in stream_configs(subjects, declared):
        assert wanted.name is not None
        try:
            live = (await js.stream_info(wanted.name)).config
        except NotFoundError:
            await js.add_stream(wanted)
            log.info("created JetStream stream %s (%d replicas)", wanted.name, wanted.num_replicas)
            continue
        update = reconcile(live, wanted)
        if update is not None:
            await js.update_stream(update)


def reconcile(live: StreamConfig, wanted: StreamConfig) -> StreamConfig | None:
    """The configuration to apply to `live` so it matches `wanted` where that is safe
    (None: nothing to change); raises StreamConflict where it is not."""
    name = wanted.name
    if live.storage != wanted.storage:
        raise StreamConflict(
            f"JetStream stream {name} keeps its messages in {_value(live.storage)} storage "
            f"but VIBEHQ_NATS_STORAGE asks for {_value(wanted.storage)}; JetStream cannot "
            "change that in place: set VIBEHQ_NATS_STORAGE to match, or back up and "
            "delete the stream (the relay republishes from its checkpoint)"
        )
    if _placement(live.placement) != _placement(wanted.placement):
        raise StreamConflict(
            f"JetStream stream {name} is placed at {_placement(live.placement)} but "
            f"VIBEHQ_NATS_CLUSTER/VIBEHQ_NATS_TAGS ask for {_placement(wanted.placement)}; "
            "move it with `nats stream edit` or set the variables to match"
        )
    changes: list[str] = []
    replicas = live.num_replicas or 1
    asked = wanted.num_replicas or 1
    if asked > replicas:
        changes.append(f"replicas {replicas} -> {asked}")
        replicas = asked
    elif asked < replicas:
        log.info(
            "JetStream stream %s has %d replicas, more than VIBEHQ_NATS_REPLICAS=%d: kept",
            name,
            replicas,
            asked,
        )
    if live.max_age != wanted.max_age:
        changes.append(f"max age {live.max_age or 0:g}s -> {wanted.max_age:g}s")
    if sorted(live.subjects or []) != sorted(wanted.subjects or []):
        changes.append("subjects")
    if live.duplicate_window != wanted.duplicate_window:
        changes.append("duplicate window")
    if not changes:
        return None
    log.info("JetStream stream %s: %s", name, "; ".join(changes))
    live.num_replicas = replicas
    live.max_age = wanted.max_age
    live.subjects = wanted.subjects
    live.duplicate_window = wanted.duplicate_window
    live.description = wanted.description
    return live


def _value(storage: StorageType | None) -> str:
    return storage.value if storage is not None else "file"


def _placement(placement: Placement | None) -> str:
    if placement is None or (placement.cluster is None and not placement.tags):
        return "any server"
    where = f"cluster {placement.cluster}" if placement.cluster else "any cluster"
    return where + (f" with tags {','.join(sorted(placement.tags))}" if placement.tags else "")
