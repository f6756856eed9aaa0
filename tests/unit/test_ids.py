"""New ids are time-ordered (UUID version 7), so the store's indexes grow at one end."""

from __future__ import annotations

import time
import uuid

from application.event_codec import EventCodec
from domain.contracts import WriteFile
from domain.ids import new_id
from domain.ops import OpsEvent, SourceHeartbeat
from tests.unit.test_patch_manager import Harness, context


def test_ids_made_one_after_another_sort_in_the_order_they_were_made() -> None:
    made = [new_id() for _ in range(20_000)]
    assert len(set(made)) == len(made)
    assert made == sorted(made)
    assert [str(i) for i in made] == sorted(str(i) for i in made)  # as text too


def test_an_id_is_a_version_7_uuid_that_starts_with_the_millisecond_it_was_made() -> None:
    before = time.time_ns() // 1_000_000
    made = new_id()
    after = time.time_ns() // 1_000_000
    assert (made.version, made.variant) == (7, uuid.RFC_4122)
    assert before <= made.int >> 80 <= after


def test_ids_made_in_one_millisecond_differ_in_their_random_bits() -> None:
    low_bits = {new_id().int & ((1 << 62) - 1) for _ in range(1_000)}
    assert len(low_bits) == 1_000


async def test_workspaces_patches_and_their_events_get_time_ordered_ids() -> None:
    h = Harness()
    workspace_id = await h.workspace(a="1\n")
    patch = await h.manager.submit(
        h.submission(workspace_id, 2, WriteFile(path="a", content="2\n")), context()
    )
    codec = EventCodec()
    heartbeat = SourceHeartbeat(source="agent", status="ok", interval_seconds=5.0)
    signal = OpsEvent(source="agent", kind="deploy", severity="info", message="up", attributes={})
    other = codec.encode(heartbeat.collect_events()[0])
    assert [i.version for i in (workspace_id, patch.patch_id, heartbeat.id, signal.id)] == [7] * 4
    assert other.event_id.version == 7
    assert [e.event_id.version for e in h.store.log] == [7] * len(h.store.log)
