"""The database span of an append, following OpenTelemetry's conventions for
PostgreSQL clients (no asyncpg instrumentation is released for our SDK's version).

Only made while tracing is on. One statement may carry a group of appends from
several requests (group commit): its span then links to each append's span.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind

from domain.contracts import TraceContext
from infrastructure.database_url import ServerAddress
from infrastructure.telemetry import span_context_of, tracing_enabled

tracer = trace.get_tracer(__name__)


@contextlib.contextmanager
def statement_span(
    appends: Sequence[tuple[Any, TraceContext | None]], address: ServerAddress | None
) -> Iterator[None]:
    """A CLIENT span around one append statement (nothing when tracing is off)."""
    if not tracing_enabled():
        yield
        return
    links = (
        [Link(span_context_of(parent)) for _, parent in appends if parent is not None]
        if len(appends) > 1
        else []
    )
    attributes: dict[str, str | int] = {
        "db.system.name": "postgresql",
        "db.operation.name": "INSERT",
        "db.collection.name": "vibehq_events",
        "db.operation.batch.size": len(appends),
    }
    if address is not None:
        attributes |= {
            "db.namespace": address.database,
            "server.address": address.host,
            "server.port": address.port,
        }
    with tracer.start_as_current_span(
        "INSERT vibehq_events", kind=SpanKind.CLIENT, links=links, attributes=attributes
    ):
        yield
