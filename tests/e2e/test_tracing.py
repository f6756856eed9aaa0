"""One trace from a factory's request to the WebSocket frame its subscriber gets:
`vibehq serve` with `VIBEHQ_TRACING=otlp`, exporting to an OTLP/HTTP receiver of ours."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from infrastructure.embedded.engines import Engines
from tests.conftest import ROOT
from tests.e2e.otlp import Receiver
from tests.e2e.test_cli import vibehq
from tests.e2e.test_service import serving

pytestmark = pytest.mark.timeout(180)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5  # OTLP's Span.SpanKind values


def attributes(span: Any) -> dict[str, Any]:
    return {
        a.key: json.loads(a.value.SerializeToString() and _plain(a.value)) for a in span.attributes
    }


def _plain(value: Any) -> str:
    kind = value.WhichOneof("value")
    return json.dumps(getattr(value, kind))


def test_one_trace_runs_from_the_request_to_the_websocket_frame(
    engines: Engines, database_url: str, receiver: Receiver
) -> None:
    env = {
        **os.environ,
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": engines.nats_url,
        "VIBEHQ_TRACING": "otlp",
        "VIBEHQ_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export every 0.1 s, not 5 s
    }
    token = vibehq("tokens", "create", "--actor", "ui-factory", env=env).stdout.strip()
    auth = {"Authorization": f"Bearer {token}"}
    with serving(env, ROOT) as base:
        ws = httpx.post(f"{base}/workspaces", json={"name": "traced"}, headers=auth).json()["id"]
        feed = base.replace("http://", "ws://") + f"/ws/workspaces/{ws}?token={token}"
        with connect(feed, open_timeout=15) as socket:
            time.sleep(0.3)  # the feed is open
            patch = httpx.post(
                f"{base}/workspaces/{ws}/patches",
                json={
                    "base_version": 1,
                    "task_id": "T-trace",
                    "operations": [{"op": "create_file", "path": "a.py", "content": "x\n"}],
                },
                headers={**auth, "traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"},
            )
            assert patch.status_code == 201, patch.text
            frame = json.loads(socket.recv(timeout=15))
            assert frame["version"] == 2
        # `vibehq tail`, a subscriber in another process, continues the trace too.
        tailed = vibehq("tail", "events", "--workspace", ws, "--all", "--count", "2", env=env)
        assert tailed.returncode == 0, tailed.stderr
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            names = {s.name for s in receiver.of_trace(TRACE_ID)}
            if {"deliver websocket", "deliver tail"} <= names:
                break
            time.sleep(0.2)
    spans = {s.name: s for s in receiver.of_trace(TRACE_ID)}
    server = spans["POST /workspaces/{workspace_id}/patches"]
    append = spans["event_store.append"]
    statement = spans["INSERT vibehq_events"]
    publish = spans["publish VIBEHQ_EVENTS"]
    deliver = spans["deliver websocket"]
    tail = spans["deliver tail"]
    # The caller's trace is continued, not replaced.
    assert server.parent_span_id.hex() == CALLER_SPAN
    assert server.kind == SERVER
    assert _ancestors(append, spans)[-1] == server.span_id
    # The database statement, the relay's publish (a child of the request's span, which
    # the event stored), the subscriber's delivery: one chain.
    assert (statement.kind, statement.parent_span_id) == (CLIENT, append.span_id)
    assert (publish.kind, publish.parent_span_id) == (PRODUCER, server.span_id)
    assert (deliver.kind, deliver.parent_span_id) == (CONSUMER, publish.span_id)
    assert (tail.kind, tail.parent_span_id) == (CONSUMER, publish.span_id)
    assert attributes(statement)["db.system.name"] == "postgresql"
    assert attributes(publish)["messaging.system"] == "nats"
    assert attributes(server)["http.route"] == "/workspaces/{workspace_id}/patches"
    # No span anywhere carries the token (the feed took it in its query string).
    with receiver.lock:
        every_value = [str(a.value) for s in receiver.spans for a in s.attributes]
    assert not [v for v in every_value if token in v]


def _ancestors(span: Any, spans: dict[str, Any]) -> list[bytes]:
    """Span ids from `span`'s parent up to the top of the spans we have."""
    by_id = {s.span_id: s for s in spans.values()}
    chain = []
    parent = span.parent_span_id
    while parent in by_id:
        chain.append(parent)
        parent = by_id[parent].parent_span_id
    return chain
