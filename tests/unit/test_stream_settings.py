"""Stream configuration is declared by settings and reconciled safely: what JetStream
can change in place is changed (and said), an operator's replicas are never lowered,
and what it cannot change stops the start with a message."""

from __future__ import annotations

import logging

import pytest
from nats.js.api import Placement, StorageType

from infrastructure.fanout.jetstream import (
    HOUR,
    StreamConflict,
    StreamSettings,
    reconcile,
    stream_configs,
    stream_settings,
)
from infrastructure.fanout.subjects import Subjects
from infrastructure.settings import load_settings

SUBJECTS = Subjects("vibehq")


def test_settings_declare_replicas_storage_retention_and_placement() -> None:
    declared = stream_settings(
        load_settings(
            {
                "VIBEHQ_NATS_REPLICAS": "3",
                "VIBEHQ_NATS_STORAGE": "memory",
                "VIBEHQ_NATS_EVENTS_HOURS": "48",
                "VIBEHQ_NATS_CLUSTER": "east",
                "VIBEHQ_NATS_TAGS": "ssd,fast",
            }
        )
    )
    events, terminal = stream_configs(SUBJECTS, declared)
    assert (events.num_replicas, events.storage) == (3, StorageType.MEMORY)
    assert events.max_age == 48 * HOUR
    assert terminal.max_age == 24 * HOUR
    assert events.placement == Placement(cluster="east", tags=["ssd", "fast"])


def test_more_replicas_and_a_new_max_age_are_applied_and_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    live = stream_configs(SUBJECTS, StreamSettings(replicas=1, events_max_age_hours=1))[0]
    wanted = stream_configs(SUBJECTS, StreamSettings(replicas=3))[0]
    with caplog.at_level(logging.INFO):
        update = reconcile(live, wanted)
    assert update is not None
    assert (update.num_replicas, update.max_age) == (3, 7 * 24 * HOUR)
    [said] = [r.getMessage() for r in caplog.records]
    assert "replicas 1 -> 3" in said
    assert "max age 3600s -> 604800s" in said
    assert reconcile(update, wanted) is None  # now it matches: nothing to do


def test_an_operators_higher_replica_count_is_kept() -> None:
    live = stream_configs(SUBJECTS, StreamSettings(replicas=3))[0]
    wanted = stream_configs(SUBJECTS, StreamSettings(replicas=1))[0]
    assert reconcile(live, wanted) is None  # R3 is never turned back into R1
    live.max_age = 60.0
    update = reconcile(live, wanted)
    assert update is not None
    assert update.num_replicas == 3


def test_what_jetstream_cannot_change_in_place_stops_the_start() -> None:
    live = stream_configs(SUBJECTS, StreamSettings(storage="memory"))[0]
    with pytest.raises(StreamConflict, match="VIBEHQ_NATS_STORAGE asks for file"):
        reconcile(live, stream_configs(SUBJECTS, StreamSettings())[0])
    placed = stream_configs(SUBJECTS, StreamSettings(cluster="west"))[0]
    with pytest.raises(StreamConflict, match="placed at cluster west"):
        reconcile(placed, stream_configs(SUBJECTS, StreamSettings(cluster="east"))[0])
