"""NATS subject and stream names: one place, so publishers and subscribers agree.

Every event goes to exactly one subject, chosen so subscribers can filter with
wildcards:

* `<p>.ops.<severity>.<source>`       ops events (`OpsEvent.Reported`)
* `<p>.ops.heartbeat.<source>`        heartbeats
* `<p>.events.<aggregate>.<stream id>.<event>` everything else, e.g.
  `vibehq.events.workspace.<uuid>.PatchApplied`
* `<p>.terminal.<session>.output`     terminal output (published directly, not logged)

Identifiers may contain dots, which NATS reads as token separators, so tokens are
percent-encoded (`.` -> `%2E`, also `*`, `>`, `%` and whitespace).
"""

from __future__ import annotations

import re
from typing import Final

from application.event_codec import EventCodec, event_types
from application.ports import RecordedEvent
from domain.ops import OpsEvent, SourceHeartbeat

_UNSAFE: Final = re.compile(r"[.*>%\s]")
_CODEC: Final = EventCodec()
#: Signals go to `<p>.ops.…` subjects, keyed by what they say, not by their stream.
_SIGNALS: Final = event_types(OpsEvent.Reported, SourceHeartbeat.Beat)


def token(value: str) -> str:
    """`value` as one NATS subject token."""
    return _UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", value) or "_"


class Subjects:
    def __init__(self, prefix: str = "vibehq") -> None:
        self.prefix = prefix
        self.events_stream = f"{prefix.upper().replace('-', '_')}_EVENTS"
        self.terminal_stream = f"{prefix.upper().replace('-', '_')}_TERMINAL"

    @property
    def events_filters(self) -> list[str]:
        return [f"{self.prefix}.events.>", f"{self.prefix}.ops.>"]

    @property
    def terminal_filters(self) -> list[str]:
        return [f"{self.prefix}.terminal.>"]

    def for_event(self, record: RecordedEvent) -> str:
        if record.event_type in _SIGNALS:
            event = _CODEC.decode(record)
            if isinstance(event, OpsEvent.Reported):
                return f"{self.prefix}.ops.{event.severity}.{token(event.source)}"
            if isinstance(event, SourceHeartbeat.Beat):
                return f"{self.prefix}.ops.heartbeat.{token(event.source)}"
        name = record.event_type.rpartition(".")[2]
        stream = f"{token(record.stream_type.lower())}.{record.stream_id}"
        return f"{self.prefix}.events.{stream}.{token(name)}"

    def workspace(self, workspace_id: str) -> str:
        return f"{self.prefix}.events.workspace.{workspace_id}.*"

    def events(
        self,
        *,
        aggregate: str | None = None,
        stream_id: str | None = None,
        event: str | None = None,
    ) -> str:
        parts = [
            token(aggregate.lower()) if aggregate else "*",
            stream_id or "*",
            token(event) if event else "*",
        ]
        return f"{self.prefix}.events.{'.'.join(parts)}"

    def ops(self, severity: str | None = None, source: str | None = None) -> str:
        return f"{self.prefix}.ops.{severity or '*'}.{token(source) if source else '*'}"

    def incidents(self) -> str:
        return f"{self.prefix}.events.incident.>"

    def terminal(self, session: str, channel: str = "output") -> str:
        return f"{self.prefix}.terminal.{token(session)}.{channel}"
