"""Where output leaves the process besides terminals and logs: problem bodies and
exported spans carry no secret value the process holds."""

from __future__ import annotations

import msgspec
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from infrastructure.secrets.redaction import REDACTOR, Redactor
from infrastructure.telemetry import RedactingExporter
from interfaces.http.problems import problem

VALUE = "sk-live-" + "Zq9x" * 8


def test_a_problem_body_never_quotes_a_held_value() -> None:
    REDACTOR.add("stripe-live", VALUE)
    answer = problem(None, 422, "invalid", "Invalid", f"no match for {VALUE!r} in app.py")
    body = msgspec.json.encode(answer.content).decode()
    assert VALUE not in body
    assert "[REDACTED:stripe-live]" in body


def test_spans_leave_with_their_held_values_masked() -> None:
    redactor = Redactor()
    redactor.add("stripe-live", VALUE)
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(RedactingExporter(exported, redactor)))
    with provider.get_tracer("test").start_as_current_span("call") as span:
        span.set_attribute("http.url", f"https://api.example/v1?key={VALUE}")
        span.set_attribute("retries", 2)
    [sent] = exported.get_finished_spans()
    assert sent.attributes is not None
    assert sent.attributes["http.url"] == "https://api.example/v1?key=[REDACTED:stripe-live]"
    assert sent.attributes["retries"] == 2
    assert (sent.name, sent.context) == ("call", span.get_span_context())
