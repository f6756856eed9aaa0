"""Figure 5: how long after a commit a subscriber sees the event.

The service runs in this process (uvicorn in the same event loop, relay in the
background, as `vibehq serve` runs them), so one monotonic clock times both ends:
from the moment the append returned (the commit) to the moment a NATS subscriber,
and a WebSocket client of `/ws/ops`, received the event. The baseline is JetStream
itself: publish straight to the stream and time the same subscriber.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import msgspec
import nats
import uvicorn
from websockets.asyncio.client import connect

from application.aggregates import CommandContext
from bench.stats import percentile
from domain.contracts import OpsEventRequest
from infrastructure.fanout.feed import Feed
from infrastructure.settings import Settings
from interfaces.composition import Runtime, Services, open_runtime
from interfaces.http.app import create_app

#: Events sent and not timed first, so connections and plans are warm.
WARM_UP = 5


@dataclass(frozen=True)
class DeliveryLatencies:
    name: str
    samples_ms: list[float]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p99(self) -> float:
        return percentile(self.samples_ms, 0.99)


async def fanout_latencies(database_url: str, nats_url: str, count: int) -> list[DeliveryLatencies]:
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    settings = Settings(
        database_url=database_url, nats_url=nats_url, nats_prefix=prefix, auth="off"
    )
    opened: list[Runtime] = []

    @asynccontextmanager
    async def services(settings: Settings) -> AsyncIterator[Services]:
        """The production services, with a hold on the runtime for the followers."""
        runtime = await open_runtime(settings)
        runtime.start_background()
        opened.append(runtime)
        try:
            yield runtime.services
        finally:
            await runtime.close()

    app = create_app(settings, services)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws="websockets-sansio")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no "started" event
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    [runtime] = opened
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        subjects = runtime.subjects
        feed = await Feed.open(js, stream=subjects.events_stream, subjects=[subjects.ops()])
        async with connect(f"ws://127.0.0.1:{port}/ws/ops") as socket:
            assert runtime.background is not None
            for follower in runtime.background.followers:  # leases taken, streams ready
                await asyncio.wait_for(follower.active.wait(), 30)
            nats_ms, ws_ms = [], []
            for n in range(-WARM_UP, count):
                request = OpsEventRequest(
                    source="bench", kind="tick", severity="info", message=str(n)
                )
                await runtime.services.ops.report(
                    request, CommandContext(actor="bench", correlation_id=uuid.uuid4())
                )
                committed = time.perf_counter()
                await feed.next()
                to_nats = (time.perf_counter() - committed) * 1000
                await socket.recv()
                to_socket = (time.perf_counter() - committed) * 1000
                if n >= 0:
                    nats_ms.append(to_nats)
                    ws_ms.append(to_socket)
                await asyncio.sleep(0.01)
        await feed.close()
        subject = subjects.events(aggregate="bench", stream_id="baseline", event="Tick")
        feed = await Feed.open(js, stream=subjects.events_stream, subjects=[subject])
        baseline = []
        for n in range(count):
            started = time.perf_counter()
            await js.publish(subject, msgspec.json.encode({"n": n}))
            await feed.next()
            baseline.append((time.perf_counter() - started) * 1000)
        await feed.close()
    finally:
        await client.close()
        server.should_exit = True
        await serving
        bare = await nats.connect(nats_url)
        for name in (runtime.subjects.events_stream, runtime.subjects.terminal_stream):
            await bare.jetstream().delete_stream(name)
        await bare.close()
    return [
        DeliveryLatencies("commit -> NATS subscriber", nats_ms),
        DeliveryLatencies("commit -> WebSocket client", ws_ms),
        DeliveryLatencies("JetStream publish -> subscriber (baseline)", baseline),
    ]
