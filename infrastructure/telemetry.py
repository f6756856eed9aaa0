"""OpenTelemetry tracing: off unless asked for, console or OTLP when it is.

The trace context of the span that records an event is stored with the event, so an
operator can follow one patch from the HTTP request through the store to every
subscriber that later handles it.
"""

from __future__ import annotations

import logging
from typing import Literal

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from domain.contracts import TraceContext

log = logging.getLogger(__name__)

TracingMode = Literal["off", "console", "otlp"]

_enabled = False


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
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    global _enabled
    _enabled = True
    log.info("tracing on: %s exporter", mode)
    return provider


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
