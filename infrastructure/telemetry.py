"""OpenTelemetry tracing: off unless asked for, console or OTLP when it is.

The trace context of the span that records an event is stored with the event, so an
operator can follow one patch from the HTTP request through the store to every
subscriber that later handles it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Literal

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import SpanContext, SpanKind

from domain.contracts import TraceContext
from infrastructure.secrets.redaction import REDACTOR, Redactor

log = logging.getLogger(__name__)

TracingMode = Literal["off", "console", "otlp"]

_enabled = False
_tracer = trace.get_tracer("vibehq")


def tracing_enabled() -> bool:
    """Whether `setup_tracing` installed a provider in this process (hot paths skip
    creating spans of their own when it did not)."""
    return _enabled


def setup_tracing(
    mode: TracingMode, *, service_name: str = "vibehq", otlp_endpoint: str | None = None
) -> TracerProvider | None:
    """Install a global tracer provider for `mode`; returns it so the caller can shut it down."""
    if mode == "off":
        return None
    exporter: SpanExporter
    if mode == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=otlp_endpoint) if otlp_endpoint else OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(RedactingExporter(exporter)))
    trace.set_tracer_provider(provider)
    global _enabled
    _enabled = True
    log.info("tracing on: %s exporter", mode)
    return provider


class RedactingExporter(SpanExporter):
    """Masks the process's secret values in span attributes before spans leave it."""

    def __init__(self, exporter: SpanExporter, redactor: Redactor = REDACTOR) -> None:
        self._exporter = exporter
        self._redactor = redactor

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if len(self._redactor):
            spans = [self._masked(span) for span in spans]
        return self._exporter.export(spans)

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._exporter.force_flush(timeout_millis)

    def _masked(self, span: ReadableSpan) -> ReadableSpan:
        attributes = dict(span.attributes or {})
        changed = False
        for key, value in attributes.items():
            if isinstance(value, str) and (masked := self._redactor.redact(value)) != value:
                attributes[key] = masked
                changed = True
        if not changed:
            return span
        return ReadableSpan(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=attributes,
            events=span.events,
            links=span.links,
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )


def current_trace_context() -> TraceContext | None:
    """The W3C trace context of the active span, or None when nothing is being traced."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    traceparent = carrier.get("traceparent")
    if traceparent is None:
        return None
    return TraceContext(traceparent=traceparent, tracestate=carrier.get("tracestate") or None)


def parent_of(carrier: Mapping[str, str]) -> Context | None:
    """The trace context in W3C headers (`traceparent`, `tracestate`), or None."""
    if "traceparent" not in carrier:
        return None
    return propagate.extract(dict(carrier))


def stored_parent(trace_context: TraceContext | None) -> Context | None:
    """The context of the span that recorded an event (stored with it), or None."""
    if trace_context is None:
        return None
    carrier = {"traceparent": trace_context.traceparent}
    if trace_context.tracestate:
        carrier["tracestate"] = trace_context.tracestate
    return parent_of(carrier)


def span_context_of(trace_context: TraceContext) -> SpanContext:
    """The span context a stored trace context names (for links)."""
    return trace.get_current_span(stored_parent(trace_context)).get_span_context()


def injected(headers: Mapping[str, str]) -> dict[str, str]:
    """`headers` with the current span's `traceparent`/`tracestate` in place of theirs."""
    carrier = {k: v for k, v in headers.items() if k not in ("traceparent", "tracestate")}
    propagate.inject(carrier)
    return carrier


@contextlib.contextmanager
def consumer_span(
    name: str, headers: Mapping[str, str], attributes: Mapping[str, str | int]
) -> Iterator[None]:
    """A CONSUMER span continuing the trace a message carries (nothing when tracing is
    off or the message carries none): how a feed delivery joins the request's trace.

    The span is not made current, so it may be held across an async generator's
    `yield` (an SSE stream) without moving contexts between tasks.
    """
    parent = parent_of(headers) if _enabled else None
    if parent is None:
        yield
        return
    span = _tracer.start_span(
        name, context=parent, kind=SpanKind.CONSUMER, attributes=dict(attributes)
    )
    try:
        yield
    finally:
        span.end()
