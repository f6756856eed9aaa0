"""What the codec stores for an event: lean payloads that read back whole, old ones too."""

from __future__ import annotations

import json
import uuid
from typing import Any

from application.event_codec import EventCodec, plain_payload
from application.ports import RecordedEvent
from domain.contracts import FileChange, FileEntry
from domain.workspace import Workspace

CODEC = EventCodec()


def _entry(size: int) -> FileEntry:
    return FileEntry(sha256="ab" * 32, mode="100644", size=size)


def _applied(*changes: FileChange) -> Workspace.PatchApplied:
    return Workspace.PatchApplied(
        originator_id=uuid.uuid4(),
        originator_version=3,
        timestamp=Workspace.PatchApplied.create_timestamp(),
        patch_id=uuid.uuid4(),
        author="ui-factory",
        task_id="T-1",
        base_version=2,
        message="m",
        operation_count=len(changes),
        changes=list(changes),
    )


def _record(event: Workspace.PatchApplied, state: bytes) -> RecordedEvent:
    stored = CODEC.encode(event)
    return RecordedEvent(
        event_id=stored.event_id,
        stream_id=event.originator_id,
        stream_type="Workspace",
        stream_version=event.originator_version,
        position=1,
        event_type=stored.event_type,
        schema_version=stored.schema_version,
        topic=stored.topic,
        state=state,
        recorded_at=event.timestamp,
        correlation_id=uuid.uuid4(),
        causation_id=None,
        actor="ui-factory",
        trace_context=None,
    )


def _read(event: Workspace.PatchApplied, state: bytes) -> list[FileChange]:
    decoded = CODEC.decode(_record(event, state))
    assert isinstance(decoded, Workspace.PatchApplied)
    assert decoded.patch_id == event.patch_id
    return decoded.changes


def _changes(state: bytes) -> list[dict[str, Any]]:
    return [wrapped["_data_"] for wrapped in json.loads(state)["changes"]]


def test_a_file_change_is_stored_without_the_fields_at_their_default() -> None:
    plain = FileChange(path="a.py", change="modified", before=_entry(1), after=_entry(2))
    event = _applied(plain)
    state = CODEC.encode(event).state

    [stored] = _changes(state)
    assert stored == {
        "path": "a.py",
        "change": "modified",
        "before": {"sha256": "ab" * 32, "mode": "100644", "size": 1},
        "after": {"sha256": "ab" * 32, "mode": "100644", "size": 2},
    }
    assert _read(event, state) == event.changes


def test_fields_away_from_their_default_are_kept() -> None:
    moved = FileChange(
        path="b.png",
        change="renamed",
        before=_entry(1),
        after=_entry(1),
        renamed_from="a.png",
        lines_added=0,
        lines_removed=4,
        binary=True,
    )
    event = _applied(moved)
    state = CODEC.encode(event).state

    [stored] = _changes(state)
    assert stored["renamed_from"] == "a.png"
    assert stored["binary"] is True
    assert stored["lines_removed"] == 4
    assert "lines_added" not in stored
    assert _read(event, state) == event.changes


def test_a_payload_stored_with_every_field_reads_the_same() -> None:
    change = FileChange(path="a.py", change="added", before=None, after=_entry(3), lines_added=3)
    event = _applied(change)
    lean = json.loads(CODEC.encode(event).state)
    lean["changes"][0]["_data_"].update(renamed_from=None, lines_removed=0, binary=False)
    full = json.dumps(lean).encode()  # as events were stored before the lean form

    assert _read(event, full) == event.changes


def test_a_client_reads_the_whole_file_change_in_the_published_payload() -> None:
    change = FileChange(path="a.py", change="added", before=None, after=_entry(3), lines_added=3)
    event = _applied(change)
    stored = CODEC.encode(event)

    payload = plain_payload(stored.state)

    assert payload["changes"] == [
        {
            "path": "a.py",
            "change": "added",
            "before": None,
            "after": {"sha256": "ab" * 32, "mode": "100644", "size": 3},
            "renamed_from": None,
            "lines_added": 3,
            "lines_removed": 0,
            "binary": False,
        }
    ]
    assert payload["patch_id"] == str(event.patch_id)


def test_a_struct_stored_before_it_gained_a_required_field_is_published_as_stored() -> None:
    change = FileChange(path="a.py", change="added", before=None, after=_entry(3), lines_added=3)
    older = json.loads(CODEC.encode(_applied(change)).state)
    del older["changes"][0]["_data_"]["path"]  # as if `path` were added after it was stored

    payload = plain_payload(json.dumps(older).encode())

    assert payload["changes"] == [
        {
            "change": "added",
            "before": None,
            "after": {"sha256": "ab" * 32, "mode": "100644", "size": 3},
            "lines_added": 3,
        }
    ]
