"""`VIBEHQ_LOG_FORMAT=json`: everything `vibehq serve` prints is one JSON object per line,
the access log included, with the request's actor."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import httpx
from opentelemetry.sdk.trace import TracerProvider

from infrastructure.embedded.engines import Engines
from infrastructure.logs import ACTOR, JsonFormatter
from tests.conftest import ROOT
from tests.e2e.otlp import Receiver
from tests.e2e.test_cli import vibehq
from tests.e2e.test_service import serving
from tests.e2e.test_tracing import CALLER_SPAN, TRACE_ID


def test_serve_logs_one_json_object_per_line_with_the_actor_and_trace(
    engines: Engines, database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    env = {
        **os.environ,
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": engines.nats_url,
        "VIBEHQ_LOG_FORMAT": "json",
        "VIBEHQ_TRACING": "otlp",
        "VIBEHQ_OTLP_ENDPOINT": receiver.endpoint,
    }
    created = vibehq("tokens", "create", "--actor", "ui-factory", env=env)
    token = created.stdout.strip()
    output = tmp_path / "serve.log"
    with serving(env, ROOT, output=output) as base:
        auth = {"Authorization": f"Bearer {token}"}
        traced = {**auth, "traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"}
        assert httpx.get(f"{base}/workspaces", headers=traced).status_code == 200
        assert (
            httpx.get(f"{base}/workspaces", headers={"Authorization": "Bearer nope"}).status_code
            == 401
        )
    lines = [line for line in output.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    assert any(e["message"].startswith("vibehq serving on") for e in entries)
    [listed] = [e for e in entries if "GET /workspaces" in e["message"] and "200" in e["message"]]
    assert (listed["logger"], listed["actor"]) == ("uvicorn.access", "ui-factory")
    assert listed["trace_id"] == TRACE_ID  # the request's server span, in the caller's trace
    [refused] = [e for e in entries if "GET /workspaces" in e["message"] and "401" in e["message"]]
    assert "actor" not in refused


def test_a_json_line_carries_the_current_span() -> None:
    tracer = TracerProvider().get_tracer("test")
    record = logging.LogRecord("vibehq.x", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    outside = json.loads(JsonFormatter().format(record))
    assert outside["message"] == "hello you"
    assert "trace_id" not in outside
    token = ACTOR.set("data-factory")
    try:
        with tracer.start_as_current_span("work") as span:
            inside = json.loads(JsonFormatter().format(record))
    finally:
        ACTOR.reset(token)
    context = span.get_span_context()
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert (inside["level"], inside["actor"]) == ("warning", "data-factory")
