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


async def test_patches_and_events_get_time_ordered_ids() -> None:
    h = Harness()
    workspace_id = await h.workspace(a="1\n")
    patch = await h.manager.submit(
        h.submission(workspace_id, 2, WriteFile(path="a", content="2\n")), context()
    )
    heartbeat = SourceHeartbeat(source="agent", status="healthy", interval_seconds=5.0)
    encoded = EventCodec().encode(heartbeat.collect_events()[0])
    assert patch.patch_id.version == 7
    assert encoded.event_id.version == 7
    assert [e.event_id.version for e in h.store.log] == [7] * len(h.store.log)


async def test_workspace_ids_stay_random_so_their_short_ids_tell_them_apart() -> None:
    """The CLI prints workspaces by their first 8 characters and takes any unique start
    (docs/http.md); time-ordered ids made within a minute would share those."""
    h = Harness()
    made = [await h.workspace(a="1\n") for _ in range(50)]
    assert {workspace.version for workspace in made} == {4}
    assert len({str(workspace)[:8] for workspace in made}) == 50
    signals = [
        OpsEvent(source="agent", kind="deploy", severity="info", message="up", attributes={})
        for _ in range(50)
    ]
    assert len({str(signal.id)[:8] for signal in signals}) == 50
