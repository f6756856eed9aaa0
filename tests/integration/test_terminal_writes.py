"""An agent's runner writes its terminal over HTTP: in order, once, by its owner."""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import AsyncIterator

import asyncpg
import nats
import pytest
import pytest_asyncio
from websockets.asyncio.client import connect

from domain.contracts import TerminalChunk
from infrastructure.embedded.engines import Engines
from infrastructure.fanout.subjects import Subjects
from infrastructure.fanout.terminal import TerminalPublisher
from infrastructure.secrets.keys import LocalKeyRing
from infrastructure.secrets.redaction import Redactor
from tests.integration.api import Api, serve_api
from tests.integration.test_streams import receive

pytestmark = pytest.mark.timeout(60)


@pytest_asyncio.fixture
async def api(database_url: str, engines: Engines, pool: asyncpg.Pool) -> AsyncIterator[Api]:
    async with serve_api(database_url, engines.nats_url, pool) as served:
        yield served


async def test_a_runner_writes_its_terminal_over_http_in_order_once(
    api: Api,
) -> None:
    session = f"agent-{uuid.uuid4().hex[:8]}"
    viewer = await api.token("pair-programmer", "read")
    async with (
        await api.as_("agent-runner", "write") as runner,
        await api.as_("other-runner", "write") as other,
        await api.as_("watcher", "read") as reader,
    ):
        url = f"/terminal/{session}/output"
        first = await runner.post(url, json={"seq": 1, "data": "$ make\r\n"})
        again = await runner.post(url, json={"seq": 1, "data": "$ make\r\n"})  # a retry
        second = await runner.post(url, json={"seq": 2, "data": "ok\r\n"})
        skipped = await runner.post(url, json={"seq": 4, "data": "lost?"})
        intruder = await other.post(url, json={"seq": 3, "data": "rm -rf /"})
        watcher = await reader.post(url, json={"seq": 3, "data": "hi"})
        bad = await runner.post(url, json={"seq": 0, "data": ""})
        async with connect(f"{api.ws_base}/ws/terminal/{session}?token={viewer}") as socket:
            shown = await receive(socket, 2)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(socket.recv(), 0.5)  # the retry was not published
    assert (first.status_code, first.json()["duplicate"]) == (202, False)
    assert (again.status_code, again.json()["duplicate"]) == (202, True)
    assert second.status_code == 202
    assert skipped.status_code == 409
    assert "send 3 first" in skipped.json()["detail"]
    assert intruder.status_code == 403
    assert "agent-runner writes it" in intruder.json()["detail"]
    assert watcher.status_code == 403  # a read token watches, never writes
    assert (bad.status_code, bad.json()["field"]) == (422, "seq")
    assert [(m["seq"], m["data"]) for m in shown] == [(1, "$ make\r\n"), (2, "ok\r\n")]


async def test_any_process_takes_the_next_chunk_and_a_split_value_stays_masked(
    api: Api, engines: Engines
) -> None:
    """Two publishers stand for two worker processes: the chunks of one session
    alternate between them, a value is split across two of them, and the viewer gets
    every character but the value, in order."""
    value = "sk-live-" + secrets.token_urlsafe(24)
    redactor = Redactor()
    redactor.add("stripe-live", value)
    ring = LocalKeyRing({1: os.urandom(32)})
    subjects = Subjects(api.settings.nats_prefix)
    client = await nats.connect(engines.nats_url)
    session = f"agent-{uuid.uuid4().hex[:8]}"
    chunks = ["$ env\r\nKEY=" + value[:10], value[10:20], value[20:] + "\r\n$ ", "exit\r\n"]
    try:
        js = client.jetstream()
        workers = [TerminalPublisher(js, subjects, keys=ring, redactor=redactor) for _ in range(2)]
        accepted = [
            await workers[seq % 2].append(
                session, TerminalChunk(seq=seq, data=data), actor="agent-runner"
            )
            for seq, data in enumerate(chunks, start=1)
        ]
        viewer = await api.token("pair-programmer", "read")
        async with connect(f"{api.ws_base}/ws/terminal/{session}?token={viewer}") as socket:
            frames = await receive(socket, len(chunks))
        stored = await js.get_last_msg(
            subjects.terminal_stream, subjects.terminal(session, "output")
        )
    finally:
        await client.close()
    assert [a.duplicate for a in accepted] == [False] * len(chunks)
    shown = "".join(frame["data"] for frame in frames)
    assert shown == "$ env\r\nKEY=[REDACTED:stripe-live]\r\n$ exit\r\n"
    # What waited between chunks travelled sealed, never in clear.
    assert value[:4] not in str(stored.headers)
