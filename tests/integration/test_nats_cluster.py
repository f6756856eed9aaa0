"""Fan-out on a real three-node JetStream cluster: losing the events stream's leader
loses nothing, repeats nothing, and delays the feeds by seconds; an R3 stream stays
R3; start-up works while the first listed node is down."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx
import nats
import nats.errors
import pytest
import pytest_asyncio
from nats.js import JetStreamContext

from infrastructure.fanout.connection import nats_servers
from infrastructure.fanout.jetstream import StreamSettings, ensure_streams
from infrastructure.fanout.relay import POSITION_HEADER
from infrastructure.fanout.subjects import Subjects
from infrastructure.health import nats_unreachable
from tests.integration.api import Api, serve_api
from tests.integration.nats_cluster import NatsCluster

pytestmark = pytest.mark.timeout(240)

WRITERS = 4


@pytest_asyncio.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[NatsCluster]:
    nodes = NatsCluster(tmp_path)
    nodes.start_all()
    try:
        await nodes.until_ready()
        yield nodes
    finally:
        nodes.stop()


async def _write(api: Api, stop: asyncio.Event, writer: int) -> int:
    """Patches into a workspace of its own until told to stop; how many it recorded."""
    async with await api.as_(f"factory-{writer}", "write") as client:
        ws = (await client.post("/workspaces", json={"name": f"w{writer}"})).json()["id"]
        n = 0
        while not stop.is_set():
            body = {
                "base_version": 1,
                "task_id": "T-cluster",
                "operations": [{"op": "create_file", "path": f"f{n}", "content": "x\n"}],
            }
            answer = await client.post(f"/workspaces/{ws}/patches", json=body)
            assert answer.status_code == 201, answer.text  # writes never fail
            n += 1
        return n


async def _messages(js: JetStreamContext, stream: str) -> int:
    """Messages in the stream (-1 while it cannot say: no leader)."""
    try:
        return (await js.stream_info(stream)).state.messages
    except (nats.errors.Error, TimeoutError):
        return -1


async def _readiness(client: httpx.AsyncClient, stop: asyncio.Event) -> list[str]:
    seen = []
    while not stop.is_set():
        seen.append((await client.get("/ready")).json()["status"])
        await asyncio.sleep(0.1)
    return seen


async def test_fan_out_survives_losing_the_stream_leader(
    cluster: NatsCluster, database_url: str, pool: asyncpg.Pool
) -> None:
    async with serve_api(database_url, cluster.url, pool, nats_replicas=3) as api:
        subjects = Subjects(api.settings.nats_prefix)
        client = await nats.connect(nats_servers(cluster.url))
        js = client.jetstream(timeout=2)
        try:
            info = await js.stream_info(subjects.events_stream)
            assert info.config.num_replicas == 3
            stop_writing, stop_watching = asyncio.Event(), asyncio.Event()
            writers = [asyncio.create_task(_write(api, stop_writing, w)) for w in range(WRITERS)]
            watcher = asyncio.create_task(_readiness(api.client, stop_watching))
            await asyncio.sleep(1.5)
            leader = (await js.stream_info(subjects.events_stream)).cluster.leader
            assert leader in cluster.names
            killed_at = datetime.now().astimezone()
            cluster.kill(leader)
            await asyncio.sleep(4)
            cluster.start(leader)
            await asyncio.sleep(3)
            stop_writing.set()
            written = sum(await asyncio.gather(*writers))
            events = await pool.fetch(
                "SELECT notification_id, recorded_at FROM vibehq_events ORDER BY notification_id"
            )
            # Every event reaches JetStream: wait for the relay to catch up.
            async with asyncio.timeout(60):
                while await _messages(js, subjects.events_stream) < len(events):  # noqa: ASYNC110
                    await asyncio.sleep(0.2)  # (polling another process's progress)
            await asyncio.sleep(1)  # and /ready sees it
            stop_watching.set()
            statuses = await watcher
            info = await js.stream_info(subjects.events_stream)
            count, elected = info.state.messages, info.cluster.leader_since
            published = [
                await js.get_msg(subjects.events_stream, seq) for seq in range(1, count + 1)
            ]
            # An operator's R3 stays R3, whatever a later start asks for.
            await ensure_streams(js, subjects, StreamSettings(replicas=1))
            kept = (await js.stream_info(subjects.events_stream)).config.num_replicas
        finally:
            await client.close()

    assert written > 100
    positions = [int((m.headers or {})[POSITION_HEADER]) for m in published]
    # Exactly once and in order: JetStream holds the log, no gap, no repeat.
    assert positions == [row["notification_id"] for row in events]
    # How long fan-out lagged commits (commit -> stored in JetStream), counted from the
    # commit or from the new leader's election, whichever came later: before a leader
    # exists nothing can be stored, and that part is the cluster's, not the relay's.
    assert elected is not None
    assert elected > killed_at  # a new leader was elected
    committed = {row["notification_id"]: row["recorded_at"] for row in events}
    delays = sorted(
        (m.time - max(committed[p], elected)).total_seconds()
        for m, p in zip(published, positions, strict=True)
        if m.time is not None and committed[p] >= killed_at
    )
    worst = delays[-1]
    p99 = delays[int(len(delays) * 0.99) - 1]
    print(
        f"\nleader {leader} killed; new leader after {(elected - killed_at).total_seconds():.1f}s;"
        f" {len(delays)} events committed after the kill; fan-out delay after election "
        f"median {statistics.median(delays):.2f}s p99 {p99:.2f}s max {worst:.2f}s"
    )
    # Measured on a 2-core VM: p99 1.9-2.8 s (docs/scaling.md); the bound leaves room
    # for a slower CI machine without hiding a relay that waits out long timeouts.
    assert p99 <= 5, f"fan-out lagged {p99:.1f}s (p99) after the new leader was elected"
    assert "degraded" in statuses, statuses  # /ready saw the gap
    assert statuses[-1] == "ready", statuses
    assert kept == 3


async def test_start_up_needs_any_one_listed_node(
    cluster: NatsCluster, database_url: str, pool: asyncpg.Pool
) -> None:
    cluster.kill(cluster.names[0])  # the first one listed
    assert await nats_unreachable(cluster.url) is None
    async with serve_api(database_url, cluster.url, pool, nats_replicas=3) as api:
        ready = (await api.client.get("/ready")).json()
        async with await api.as_("ui-factory", "write") as factory:
            created = await factory.post("/workspaces", json={"name": "up"})
    assert created.status_code == 201
    assert ready["status"] in ("ready", "degraded")  # up; two of three replicas
    everyone_down = ",".join(f"nats://127.0.0.1:{port}" for port in (1, 2))
    assert await nats_unreachable(everyone_down) is not None
