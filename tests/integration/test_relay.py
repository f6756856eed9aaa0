"""The outbox relay in-process: subjects, headers, trace context, stream configuration."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import msgspec
import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client as NatsClient

from application.aggregates import AggregateRepository, CommandContext
from application.feeds import whole_envelope
from application.ops import OpsService
from domain.contracts import EventEnvelope, OpsEventRequest, TraceContext
from infrastructure.embedded.engines import Engines
from infrastructure.event_store.postgres_store import PostgresEventStore
from infrastructure.fanout.jetstream import DUPLICATE_WINDOW, ensure_streams, stream_configs
from infrastructure.fanout.relay import OutboxRelay
from infrastructure.fanout.subjects import Subjects
from tests.integration.api import drop_streams
from tests.integration.followers import wait_caught_up

pytestmark = pytest.mark.timeout(60)

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest_asyncio.fixture
async def nats_client(engines: Engines) -> AsyncIterator[NatsClient]:
    client = await nats.connect(engines.nats_url)
    yield client
    await client.close()


async def test_events_go_to_filterable_subjects_with_their_trace_context(
    database_url: str,
    engines: Engines,
    pool: asyncpg.Pool,
    store: PostgresEventStore,
    nats_client: NatsClient,
) -> None:
    subjects = Subjects(f"t{uuid.uuid4().hex[:12]}")
    js = nats_client.jetstream()
    relay = OutboxRelay(dsn=database_url, store=store, js=js, subjects=subjects, poll_interval=0.05)
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        context = CommandContext(
            actor="monitor",
            correlation_id=uuid.uuid4(),
            trace_context=TraceContext(TRACEPARENT, "vendor=1"),
        )
        await OpsService(store, AggregateRepository(store)).report(
            OpsEventRequest(source="svc.eu-1", kind="deploy", severity="warning"), context
        )
        await wait_caught_up(pool, store, names=("relay",))
        message = await js.get_last_msg(subjects.events_stream, "*.ops.warning.*")
        assert message.subject == f"{subjects.prefix}.ops.warning.svc%2Eeu-1"
        headers = message.headers or {}
        assert (headers["traceparent"], headers["tracestate"]) == (TRACEPARENT, "vendor=1")
        assert headers["Vibehq-Type"] == "OpsEvent.Reported"
        [recorded] = await store.read_log()
        assert headers["Nats-Msg-Id"] == str(recorded.event_id)
        assert int(headers["Vibehq-Position"]) == recorded.position
    finally:
        stop.set()
        await running
        await drop_streams(engines.nats_url, subjects)


async def test_stream_configuration_is_created_once_and_brought_up_to_date(
    engines: Engines, nats_client: NatsClient
) -> None:
    subjects = Subjects(f"t{uuid.uuid4().hex[:12]}")
    js = nats_client.jetstream()
    try:
        await ensure_streams(js, subjects)
        stale = stream_configs(subjects)[0]
        stale.max_age = 3600.0
        await js.update_stream(stale)  # as an older version would have left it
        await ensure_streams(js, subjects)
        await ensure_streams(js, subjects)
        info = await js.stream_info(subjects.events_stream)
        assert info.config.max_age == stream_configs(subjects)[0].max_age
        assert info.config.duplicate_window == DUPLICATE_WINDOW
        assert sorted(info.config.subjects or []) == sorted(subjects.events_filters)
    finally:
        await drop_streams(engines.nats_url, subjects)


async def test_an_event_too_large_for_nats_is_announced_and_never_blocks_the_next(
    database_url: str,
    engines: Engines,
    pool: asyncpg.Pool,
    store: PostgresEventStore,
    nats_client: NatsClient,
) -> None:
    """An event recorded before sizes were bounded (2 MiB, over NATS's 1 MiB) used to
    stop the relay for good. It goes out as a small notice in its place instead."""
    subjects = Subjects(f"t{uuid.uuid4().hex[:12]}")
    js = nats_client.jetstream()
    lenient = OpsService(store, AggregateRepository(store, max_event_bytes=64 * 1024 * 1024))
    context = CommandContext(actor="monitor", correlation_id=uuid.uuid4())
    huge = OpsEventRequest(source="svc", kind="dump", severity="info", message="x" * 20_000)
    huge = msgspec.structs.replace(huge, message="x" * (2 * 1024 * 1024))  # past the bound
    await lenient.report(huge, context)
    await lenient.report(OpsEventRequest(source="svc", kind="after", severity="info"), context)
    relay = OutboxRelay(
        dsn=database_url,
        store=store,
        js=js,
        subjects=subjects,
        poll_interval=0.05,
        max_payload=nats_client.max_payload,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    try:
        await wait_caught_up(pool, store, names=("relay",))
        first = await js.get_msg(subjects.events_stream, seq=1)
        second = await js.get_msg(subjects.events_stream, seq=2)
    finally:
        stop.set()
        await running
        await drop_streams(engines.nats_url, subjects)
    notice = msgspec.json.decode(first.data, type=EventEnvelope)
    assert len(first.data) < 4096
    assert notice.payload == {}
    assert notice.payload_omitted is not None
    assert notice.payload_omitted.size > 2 * 1024 * 1024
    assert notice.payload_omitted.fetch == f"vibehq events show {notice.position}"
    assert msgspec.json.decode(second.data, type=EventEnvelope).payload["kind"] == "after"
    # A feed reads the omitted payload back from the log.
    whole = await whole_envelope(notice, store)
    assert len(whole.payload["message"]) == 2 * 1024 * 1024
    assert relay.omitted == 1
