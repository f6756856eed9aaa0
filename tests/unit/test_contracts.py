"""The wire contracts: what decodes, what is refused, and how the refusal names the field."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import msgspec
import pytest

from domain.contracts import (
    PUBLISHED_SCHEMAS,
    ApplyDiff,
    CreateFile,
    DeleteFile,
    EditFile,
    Heartbeat,
    PatchOperation,
    PatchSubmission,
    RenameFile,
    SearchReplace,
    StreamMessage,
    TerminalOutput,
    WriteFile,
)
from domain.decoding import ContractViolation, decode_json
from interfaces.cli.schema_export import export


def submission(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "workspace_id": str(uuid.uuid4()),
        "base_version": 3,
        "author": "factory:agent",
        "task_id": "TASK-42",
        "idempotency_key": "k-1",
        "operations": [{"op": "create_file", "path": "src/app.py", "content": "print(1)\n"}],
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ({"op": "create_file", "path": "a.py", "content": "x"}, CreateFile("a.py", "x")),
        (
            {"op": "write_file", "path": "b.bin", "content": "AAE=", "encoding": "base64"},
            WriteFile("b.bin", "AAE=", encoding="base64"),
        ),
        (
            {"op": "edit_file", "path": "a.py", "edits": [{"search": "x", "replace": "y"}]},
            EditFile("a.py", [SearchReplace("x", "y")]),
        ),
        (
            {"op": "apply_diff", "path": "a.py", "diff": "@@ -1 +1 @@\n-x\n+y\n"},
            ApplyDiff("a.py", "@@ -1 +1 @@\n-x\n+y\n"),
        ),
        ({"op": "delete_file", "path": "a.py"}, DeleteFile("a.py")),
        ({"op": "rename_file", "path": "a.py", "to": "b.py"}, RenameFile("a.py", "b.py")),
    ],
)
def test_each_operation_decodes_by_its_op_tag(wire: dict[str, object], expected: object) -> None:
    decoded = decode_json(json.dumps(wire), PatchOperation)
    assert decoded == expected
    defaults = {"encoding": "utf-8", "mode": "100644"} if "content" in wire else {}
    assert msgspec.json.decode(msgspec.json.encode(decoded)) == {**defaults, **wire}


def test_a_submission_decodes_with_its_operations() -> None:
    decoded = decode_json(json.dumps(submission()), PatchSubmission)
    assert decoded.base_version == 3
    assert decoded.operations == [CreateFile("src/app.py", "print(1)\n")]


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (submission(base_version=-1), "base_version", ">= 0"),
        (submission(workspace_id="not-a-uuid"), "workspace_id", "Invalid UUID"),
        (submission(operations=[]), "operations", "length >= 1"),
        (
            submission(operations=[{"op": "create_file", "path": "", "content": ""}]),
            "operations[0].path",
            "length >= 1",
        ),
        (
            submission(operations=[{"op": "explode", "path": "a"}]),
            "operations[0].op",
            "Invalid value",
        ),
        (
            submission(operations=[{"op": "edit_file", "path": "a", "edits": [{"search": "x"}]}]),
            "operations[0].edits[0].replace",
            "replace",
        ),
        (submission(author="has space"), "author", "matching regex"),
        (submission(surprise=1), "", "unknown field `surprise`"),
    ],
)
def test_bad_input_names_the_field_and_the_reason(
    body: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(ContractViolation) as caught:
        decode_json(json.dumps(body), PatchSubmission)
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_malformed_json_is_a_violation_without_a_field() -> None:
    with pytest.raises(ContractViolation) as caught:
        decode_json(b'{"workspace_id": ', PatchSubmission)
    assert caught.value.field == ""
    assert "truncated" in caught.value.reason


def test_stream_messages_decode_by_kind() -> None:
    output = decode_json(
        b'{"kind":"terminal_output","session_id":"s1","seq":7,"data":"ls\\r\\n",'
        b'"at":"2026-11-24T10:00:00Z"}',
        StreamMessage,
    )
    heartbeat = decode_json(
        b'{"kind":"heartbeat","source":"factory:ui","at":"2026-11-24T10:00:00Z"}', StreamMessage
    )
    assert isinstance(output, TerminalOutput)
    assert output.seq == 7
    assert isinstance(heartbeat, Heartbeat)
    assert heartbeat.status == "healthy"
    with pytest.raises(ContractViolation) as caught:
        decode_json(
            b'{"kind":"terminal_output","session_id":"s1","seq":0,"data":"",'
            b'"at":"2026-11-24T10:00:00Z"}',
            StreamMessage,
        )
    assert caught.value.field == "seq"


def test_schema_export_writes_a_json_schema_per_contract(tmp_path: Path) -> None:
    written = export(tmp_path / "schemas")

    assert sorted(p.name for p in written) == sorted(
        f"{name}.schema.json" for name in PUBLISHED_SCHEMAS
    )
    operation = json.loads((tmp_path / "schemas" / "patch-operation.schema.json").read_text())
    tags = {
        definition["properties"]["op"]["enum"][0]
        for definition in operation["$defs"].values()
        if "op" in definition.get("properties", {})
    }
    assert tags == {
        "create_file",
        "write_file",
        "edit_file",
        "apply_diff",
        "delete_file",
        "rename_file",
        "apply_patch",
    }
    envelope = json.loads((tmp_path / "schemas" / "event-envelope.schema.json").read_text())
    envelope_def = next(iter(envelope["$defs"].values())) if "$defs" in envelope else envelope
    assert {
        "id",
        "stream_id",
        "stream_version",
        "position",
        "type",
        "schema_version",
        "recorded_at",
        "correlation_id",
        "causation_id",
        "actor",
        "trace_context",
        "payload",
    } <= set(envelope_def["properties"])
