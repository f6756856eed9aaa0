"""The outbox relay: every event in the log, published once to NATS JetStream.

The log itself is the outbox: the relay follows it from its checkpoint, publishes a
batch (pipelined, in log order) with `Nats-Msg-Id` = event id, waits for every ack,
and only then advances the checkpoint. A crash between the acks and the checkpoint
means the batch is published again on restart, and JetStream drops the repeats
inside its duplicate window. For a restart after a longer outage, the first batch
is also checked against the last message on each event's subject.

An event whose envelope the broker would refuse (larger than its max payload) is
published in its place without its payload, with `payload_omitted` saying how large
it is and how to read it from the log: the relay never stops on one event, and
subscribers never see a gap.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

import msgspec
import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import NotFoundError
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from application.event_codec import to_envelope
from application.ports import EventStore, RecordedEvent
from domain.contracts import EventEnvelope, OmittedPayload
from infrastructure.fanout.connection import patiently
from infrastructure.fanout.jetstream import StreamSettings, ensure_streams
from infrastructure.fanout.subjects import Subjects
from infrastructure.faults import crash_point
from infrastructure.log_follower import LeasedFollower
from infrastructure.pool import DbConnection
from infrastructure.projections.checkpoints import advance
from infrastructure.telemetry import injected, stored_parent, tracing_enabled

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

RELAY: Final = "relay"
POSITION_HEADER: Final = "Vibehq-Position"
#: Which log (cluster and database) a message came from: positions of two logs don't mix.
LOG_HEADER: Final = "Vibehq-Log"
TYPE_HEADER: Final = "Vibehq-Type"
#: Room left under the broker's max payload for headers and protocol framing.
HEADROOM: Final = 4096
#: How long one publish is retried (no responders, no ack) before the batch fails and
#: the relay starts over: long enough to ride through a leader election in place.
RETRY_FOR: Final = 60.0


class OutboxRelay(LeasedFollower):
    #: NATS going away (or a stream electing a leader) is an outage to wait out.
    transient = (*LeasedFollower.transient, nats.errors.Error, asyncio.TimeoutError)

    def __init__(
        self,
        *,
        dsn: str,
        store: EventStore,
        js: JetStreamContext,
        subjects: Subjects,
        batch_size: int = 500,
        poll_interval: float = 0.5,
        lease_retry: float = 1.0,
        linger: float = 0.0,
        publish_timeout: float = 1.0,
        max_payload: int = 1024 * 1024,
        streams: StreamSettings | None = None,
    ) -> None:
        super().__init__(
            name=RELAY,
            dsn=dsn,
            store=store,
            batch_size=batch_size,
            poll_interval=poll_interval,
            lease_retry=lease_retry,
            linger=linger,
        )
        self._js = js
        self._subjects = subjects
        self._streams = streams
        self._publish_timeout = publish_timeout
        self._max_body = max(max_payload - HEADROOM, 1024)
        self._in_doubt = True
        self._log_id = ""
        self.published = 0
        self.duplicates = 0
        self.omitted = 0

    async def _prepare(self, conn: DbConnection, model_version: int) -> None:
        # Holding the lease through a NATS hiccup, not letting go and starting over.
        await patiently(
            lambda: ensure_streams(self._js, self._subjects, self._streams), within=RETRY_FOR
        )
        self._log_id = await conn.fetchval(
            "SELECT system_identifier::text || '/' || current_database() FROM pg_control_system()"
        )
        self._in_doubt = True

    async def _handle(self, conn: DbConnection, events: list[RecordedEvent]) -> int:
        batch = [(event, self._message(event)) for event in events]
        if self._in_doubt:
            batch = [item for item in batch if not await self._already_published(*item)]
            self._in_doubt = False
        acks = await asyncio.gather(*(self._publish(event, *message) for event, message in batch))
        duplicates = sum(1 for ack in acks if ack.duplicate)
        self.published += len(acks) - duplicates
        self.duplicates += duplicates
        if duplicates:
            log.info("relay: JetStream dropped %d redelivered event(s)", duplicates)
        crash_point("relay.after-publish")
        last = events[-1]
        await advance(conn, self.name, last.position, len(events), last.recorded_at)
        return last.position

    async def _publish(
        self, event: RecordedEvent, subject: str, payload: bytes, headers: dict[str, str]
    ) -> PubAck:
        """Publish one event; traced, as a child of the span that recorded it, whose
        trace the message then carries on (its `traceparent` is the publish span's)."""
        parent = stored_parent(event.trace_context) if tracing_enabled() else None
        if parent is None:
            return await self._publish_acked(subject, payload, headers)
        with tracer.start_as_current_span(
            f"publish {self._subjects.events_stream}",
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "send",
                "messaging.destination.name": subject,
                "messaging.message.id": str(event.event_id),
                "messaging.message.body.size": len(payload),
                "vibehq.position": event.position,
            },
        ):
            return await self._publish_acked(subject, payload, injected(headers))

    async def _publish_acked(self, subject: str, payload: bytes, headers: dict[str, str]) -> PubAck:
        """Publish until acknowledged, riding through a stream leader's election: the
        same `Nats-Msg-Id` each time, so JetStream keeps one copy whatever got through."""
        return await patiently(
            lambda: self._js.publish(
                subject, payload, headers=headers, timeout=self._publish_timeout
            ),
            within=RETRY_FOR,
        )

    def _message(self, event: RecordedEvent) -> tuple[str, bytes, dict[str, str]]:
        envelope = to_envelope(event)
        subject = self._subjects.for_event(event)
        headers = {
            "Nats-Msg-Id": str(event.event_id),
            POSITION_HEADER: str(event.position),
            TYPE_HEADER: event.event_type,
            LOG_HEADER: self._log_id,
        }
        if event.trace_context is not None:
            headers["traceparent"] = event.trace_context.traceparent
            if event.trace_context.tracestate:
                headers["tracestate"] = event.trace_context.tracestate
        return subject, self._body(envelope), headers

    def _body(self, envelope: EventEnvelope) -> bytes:
        body = msgspec.json.encode(envelope)
        if len(body) <= self._max_body:
            return body
        self.omitted += 1
        log.warning(
            "relay: event at position %d (%s) is %d bytes, over the broker's limit; "
            "published without its payload",
            envelope.position,
            envelope.type,
            len(body),
        )
        omitted = OmittedPayload(
            size=len(body), limit=self._max_body, fetch=f"vibehq events show {envelope.position}"
        )
        return msgspec.json.encode(
            msgspec.structs.replace(envelope, payload={}, payload_omitted=omitted)
        )

    async def _already_published(
        self, event: RecordedEvent, message: tuple[str, bytes, dict[str, str]]
    ) -> bool:
        """After a restart: is this event (or a later one on its subject) in the stream?"""
        try:
            last = await patiently(
                lambda: self._js.get_last_msg(self._subjects.events_stream, message[0]),
                within=RETRY_FOR,
            )
        except NotFoundError:
            return False
        headers = last.headers or {}
        if headers.get(LOG_HEADER) != self._log_id:
            return False  # another database's message under the same prefix
        return int(headers.get(POSITION_HEADER, "0")) >= event.position
