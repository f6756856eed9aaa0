"""The browser bridge over real HTTP, NATS and PostgreSQL: WebSocket and SSE feeds."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import nats
import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from infrastructure.embedded.engines import Engines
from infrastructure.fanout.feed import Feed
from infrastructure.fanout.subjects import Subjects
from infrastructure.fanout.terminal import TerminalPublisher
from infrastructure.secrets.keys import LocalKeyRing
from tests.integration.api import Api, serve_api
from tests.integration.test_http_patches import new_workspace, submit

pytestmark = pytest.mark.timeout(120)


@pytest_asyncio.fixture
async def api(database_url: str, engines: Engines, pool: asyncpg.Pool) -> AsyncIterator[Api]:
    async with serve_api(database_url, engines.nats_url, pool, stream_buffer=20) as served:
        yield served


@pytest_asyncio.fixture
async def factory(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    async with await api.as_("ui-factory", "write") as client:
        yield client


def publisher(client: nats.NATS, subjects: Subjects) -> TerminalPublisher:
    """A terminal writer as a process has one (sealing held-back ends under its keys)."""
    return TerminalPublisher(client.jetstream(), subjects, keys=LocalKeyRing({1: os.urandom(32)}))


async def receive(socket: ClientConnection, count: int, timeout: float = 10) -> list[Any]:
    return [json.loads(await asyncio.wait_for(socket.recv(), timeout)) for _ in range(count)]


async def receive_version(socket: ClientConnection, version: int, timeout: float = 10) -> Any:
    """The first message at `version`: a live feed may still carry earlier events the
    relay published after the socket opened."""
    async with asyncio.timeout(timeout):
        while (message := json.loads(await socket.recv()))["version"] < version:
            pass
    return message


async def shared_with_a_viewer(api: Api, factory: httpx.AsyncClient) -> tuple[str, str]:
    """A workspace of the factory's, granted to `viewer` (read), and viewer's token."""
    ws = await new_workspace(factory, a="1\n")
    grant = {"actor": "viewer", "access": "read"}
    assert (await factory.post(f"/workspaces/{ws}/grants", json=grant)).status_code == 200
    return ws, await api.token("viewer", "read")


async def test_a_workspace_feed_resumes_without_gaps_or_repeats(
    api: Api, factory: httpx.AsyncClient
) -> None:
    ws, token = await shared_with_a_viewer(api, factory)
    url = f"{api.ws_base}/ws/workspaces/{ws}?token={token}"
    async with connect(f"{url}&after=0") as socket:  # from the start of the stream
        await submit(factory, ws, 2, {"op": "write_file", "path": "a", "content": "2\n"})
        await submit(factory, ws, 2, {"op": "write_file", "path": "a", "content": "3\n"})
        first = await receive(socket, 3)
    assert [(m["kind"], m["outcome"], m["version"]) for m in first] == [
        ("patch", "applied", 2),  # the initial files
        ("patch", "applied", 4),  # (version 3 is the grant)
        ("patch", "rejected", 5),
    ]
    assert first[1]["paths"] == ["a"]
    # While disconnected, two more patches land; resuming after the last seq gets both.
    await submit(factory, ws, 5, {"op": "write_file", "path": "b", "content": "b\n"})
    await submit(factory, ws, 6, {"op": "delete_file", "path": "b"})
    async with connect(f"{url}&after={first[-1]['seq']}") as socket:
        missed = await receive(socket, 2)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(socket.recv(), 0.5)  # and nothing twice
    assert [m["version"] for m in missed] == [6, 7]
    assert missed[0]["seq"] == first[-1]["seq"] + 1


async def test_feeds_need_a_token_with_read_scope(api: Api, factory: httpx.AsyncClient) -> None:
    ws = await new_workspace(factory, a="1\n")
    no_scope = await api.token("nobody")
    reader = await api.token("viewer", "read")
    # A refused socket is told why, by close code (a browser sees nothing of an HTTP 403).
    for path, code in [
        (f"/ws/workspaces/{ws}", 4001),  # no token
        (f"/ws/workspaces/{ws}?token=vhq_unknown", 4001),
        (f"/ws/workspaces/{ws}?token={no_scope}", 4003),
        (f"/ws/workspaces/{ws}?token={reader}", 4003),  # not ui-factory's grantee
        (f"/ws/workspaces/{'0' * 32}?token={reader}", 4004),
        (f"/ws/workspaces/not-an-id?token={reader}", 4004),
        (f"/ws/terminal/bad%20name?token={reader}", 4004),
    ]:
        async with connect(f"{api.ws_base}{path}") as socket:
            closed = await until_closed(socket, within=5)
        assert closed.rcvd is not None, path
        assert closed.rcvd.code == code, (path, closed.rcvd)
    response = await api.client.get("/sse/ops")
    assert response.status_code == 401
    assert response.json()["detail"].endswith("or ?token=<token>")


def _typed(text: str, seq: int = 1) -> str:
    message = {"kind": "terminal_input", "session_id": "agent-7", "seq": seq, "data": text}
    return json.dumps({**message, "at": "2026-11-25T00:00:00Z"})


async def test_terminal_output_resumes_by_session_sequence_and_input_goes_back(
    api: Api, engines: Engines
) -> None:
    subjects = Subjects(api.settings.nats_prefix)
    client = await nats.connect(engines.nats_url)
    try:
        terminal = publisher(client, subjects)
        for n in range(1, 6):
            await terminal.write("agent-7", f"line {n}\r\n")
        inputs = await client.subscribe(subjects.terminal("agent-7", "input"))
        token = await api.token("pair-programmer", "write")
        url = f"{api.ws_base}/ws/terminal/agent-7?token={token}&after=2"
        async with connect(url) as socket:
            replayed = await receive(socket, 3)
            await terminal.write("agent-7", "\x1b[1mlive\x1b[0m")
            [live] = await receive(socket, 1)
            await socket.send(_typed("y\r"))
            typed = await inputs.next_msg(timeout=5)
            await socket.send(json.dumps({"kind": "terminal_input", "session_id": "agent-7"}))
            [error] = await receive(socket, 1)
    finally:
        await client.close()
    assert [(m["seq"], m["data"]) for m in replayed] == [
        (3, "line 3\r\n"),
        (4, "line 4\r\n"),
        (5, "line 5\r\n"),
    ]
    assert (live["seq"], live["data"]) == (6, "\x1b[1mlive\x1b[0m")
    # Who typed is the token's actor, whatever the message claimed.
    assert json.loads(typed.data)["data"] == "y\r"
    assert json.loads(typed.data)["actor"] == "pair-programmer"
    assert (error["kind"], error["field"]) == ("error", "seq")


async def test_a_read_token_watches_a_terminal_but_cannot_type_into_it(
    api: Api, engines: Engines
) -> None:
    subjects = Subjects(api.settings.nats_prefix)
    client = await nats.connect(engines.nats_url)
    try:
        await publisher(client, subjects).write("agent-7", "$ ")
        inputs = await client.subscribe(subjects.terminal("agent-7", "*"))
        token = await api.token("viewer", "read")
        async with connect(f"{api.ws_base}/ws/terminal/agent-7?token={token}") as socket:
            [prompt] = await receive(socket, 1)
            await socket.send(_typed("rm -rf /\r"))
            [error] = await receive(socket, 1)
            resize = {"kind": "terminal_resize", "session_id": "agent-7", "seq": 2}
            await socket.send(
                json.dumps({**resize, "cols": 80, "rows": 24, "at": "2026-11-25T00:00:00Z"})
            )
            [refused_resize] = await receive(socket, 1)
        with pytest.raises(nats.errors.TimeoutError):
            await inputs.next_msg(timeout=0.5)  # nothing reached the agent
    finally:
        await client.close()
    assert prompt["data"] == "$ "
    assert (error["kind"], error["field"]) == ("error", "kind")
    assert "'write' scope" in error["detail"]
    assert refused_resize["field"] == "kind"


async def until_closed(socket: ClientConnection, within: float) -> ConnectionClosed:
    try:
        while True:
            await asyncio.wait_for(socket.recv(), within)
    except ConnectionClosed as closed:
        return closed


async def test_open_feeds_close_soon_after_their_token_is_revoked(
    api: Api, engines: Engines
) -> None:
    issued = await api.tokens.issue(
        actor="contractor", kind="factory", scopes=["write"], name="", now=datetime.now(UTC)
    )
    subjects = Subjects(api.settings.nats_prefix)
    client = await nats.connect(engines.nats_url)
    inputs = await client.subscribe(subjects.terminal("agent-7", "input"))
    try:
        url = f"{api.ws_base}/ws/terminal/agent-7?token={issued.secret}"
        async with (
            connect(url) as socket,
            api.client.stream("GET", f"/sse/ops?token={issued.secret}") as sse,
        ):
            assert sse.status_code == 200
            await socket.send(_typed("ls\r"))
            await inputs.next_msg(timeout=5)  # it could type before
            revoked_at = asyncio.get_running_loop().time()
            await api.tokens.revoke(issued.info.id, datetime.now(UTC))
            closed = await until_closed(socket, within=15)
            waited = asyncio.get_running_loop().time() - revoked_at
            lines = [line async for line in sse.aiter_lines()]
    finally:
        await client.close()
    assert closed.rcvd is not None
    assert closed.rcvd.code == 4001
    assert waited < 10, f"the socket stayed open {waited:.1f}s after revocation"
    assert "event: revoked" in lines


async def test_a_backlog_far_larger_than_the_buffer_is_replayed_whole(
    api: Api, engines: Engines
) -> None:
    """Catching up is paced by the reader (JetStream's flow control holds the rest);
    only a reader that falls behind the live stream afterwards is let go."""
    subjects = Subjects(api.settings.nats_prefix)
    client = await nats.connect(engines.nats_url)
    backlog = 500  # 25 times the buffer of 20
    try:
        terminal = publisher(client, subjects)
        for n in range(1, backlog + 1):
            await terminal.write("long-run", f"{n:04d} " + "." * 1000 + "\r\n")
        token = await api.token("viewer", "read")
        url = f"{api.ws_base}/ws/terminal/long-run?token={token}"
        async with connect(url, max_size=None) as socket:
            replayed = await receive(socket, backlog, timeout=60)
            await terminal.write("long-run", "live\r\n")
            [live] = await receive(socket, 1)
    finally:
        await client.close()
    assert [m["seq"] for m in replayed] == list(range(1, backlog + 1))
    assert (live["seq"], live["data"]) == (backlog + 1, "live\r\n")


async def test_a_slow_client_is_cut_off_and_does_not_slow_a_fast_one(
    api: Api, engines: Engines
) -> None:
    subjects = Subjects(api.settings.nats_prefix)
    client = await nats.connect(engines.nats_url)
    token = await api.token("viewer", "read")
    path = f"/ws/terminal/flood?token={token}"
    try:
        terminal = publisher(client, subjects)
        await terminal.write("flood", "start\r\n")
        # The stalled client completes the handshake, then never reads again.
        stalled, reader = await stalled_websocket(api, path)
        async with connect(f"{api.ws_base}{path}") as fast:
            await asyncio.sleep(0.3)  # both feeds are open
            chunk = "x" * 60_000
            writes = 150  # 9 MB: far more than the socket buffers hold
            for _ in range(writes):
                await terminal.write("flood", chunk)
            fast_seqs = [m["seq"] for m in await receive(fast, writes + 1, timeout=30)]
        assert fast_seqs == list(range(1, writes + 2))  # all of it, in order, no gaps
        # The server gave up on the stalled one: reading now finds the end of the stream
        # well before all 9 MB arrived.
        received = await read_until_closed(reader, timeout=30)
        stalled.close()
    finally:
        await client.close()
    assert 0 < received < writes * len(chunk)


async def stalled_websocket(
    api: Api, path: str
) -> tuple[asyncio.StreamWriter, asyncio.StreamReader]:
    """A raw WebSocket client with a tiny receive buffer that stops reading."""
    host, port = str(api.client.base_url).removeprefix("http://").rstrip("/").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = await reader.readline()
    assert b" 101 " in status, status
    await reader.readuntil(b"\r\n\r\n")
    writer.transport.pause_reading()
    return writer, reader


async def read_until_closed(reader: asyncio.StreamReader, timeout: float) -> int:
    reader._transport.resume_reading()  # type: ignore[attr-defined]
    total = 0
    async with asyncio.timeout(timeout):
        while chunk := await reader.read(65536):
            total += len(chunk)
    return total


async def test_sse_feed_resumes_from_last_event_id(api: Api, factory: httpx.AsyncClient) -> None:
    token = await api.token("viewer", "read")
    first = await factory.post(
        "/ops/events",
        json={"source": "builder", "kind": "build", "severity": "warning", "message": "slow"},
    )
    assert first.status_code == 201
    await factory.post("/ops/heartbeats", json={"source": "builder"})
    events: list[tuple[str, str, dict[str, Any]]] = []
    async with api.client.stream(
        "GET", "/sse/ops", params={"token": token}, headers={"Last-Event-ID": "0"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        block: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line:
                field, _, value = line.partition(": ")
                block[field] = value
                continue
            if "data" in block:
                events.append((block["id"], block["event"], json.loads(block["data"])))
            block = {}
            if len(events) == 2:
                break
    assert [(kind, data["source"]) for _, kind, data in events] == [
        ("ops_alert", "builder"),
        ("heartbeat", "builder"),
    ]
    assert [int(seq) for seq, _, _ in events] == [1, 2]
    bad = await api.client.get("/sse/ops", params={"token": token}, headers={"Last-Event-ID": "x"})
    assert (bad.status_code, bad.json()["field"]) == (422, "Last-Event-ID")


async def test_the_ops_socket_sends_alerts_incident_steps_and_health_changes(
    api: Api, factory: httpx.AsyncClient
) -> None:
    token = await api.token("viewer", "read")
    async with connect(f"{api.ws_base}/ws/ops?token={token}") as socket:
        await factory.post("/ops/heartbeats", json={"source": "builder"})
        error = {"source": "builder", "kind": "build", "severity": "error", "message": "exit 2"}
        await factory.post("/ops/events", json=error)
        seen: list[dict[str, Any]] = []
        while not any(m["kind"] == "health" and m["health"] == "degraded" for m in seen):
            seen.append(json.loads(await asyncio.wait_for(socket.recv(), 15)))
    kinds = [m["kind"] for m in seen]
    assert {"heartbeat", "ops_alert", "incident", "health"} <= set(kinds)
    health = [(m["source"], m["health"]) for m in seen if m["kind"] == "health"]
    assert health[-1] == ("builder", "degraded")
    assert next(m for m in seen if m["kind"] == "incident")["step"] == "opened"


async def test_a_feed_left_while_waiting_leaves_no_pending_task_behind() -> None:
    # When a WebSocket client leaves, its pump is cancelled inside Feed.next(); the
    # queue getter used to stay pending until garbage collection complained.
    feed = Feed(limit=10)
    before = asyncio.all_tasks()
    waiting = asyncio.create_task(feed.next())
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0)  # let the cancellations run
    assert asyncio.all_tasks() - before - {waiting} == set()


async def test_a_workspace_feed_ends_when_the_readers_grant_is_revoked(
    api: Api, factory: httpx.AsyncClient
) -> None:
    ws, token = await shared_with_a_viewer(api, factory)
    async with (
        connect(f"{api.ws_base}/ws/workspaces/{ws}?token={token}") as socket,
        api.client.stream("GET", f"/sse/workspaces/{ws}?token={token}") as sse,
    ):
        await asyncio.sleep(0.3)  # both feeds are open
        await submit(factory, ws, 3, {"op": "write_file", "path": "a", "content": "2\n"})
        seen = await receive_version(socket, 4)
        assert (await factory.delete(f"/workspaces/{ws}/grants/viewer")).status_code == 200
        closed = await until_closed(socket, within=10)
        lines: list[str] = []
        async for line in sse.aiter_lines():
            lines.append(line)
    assert seen["version"] == 4
    assert closed.rcvd is not None
    assert closed.rcvd.code == 4003
    assert "ui-factory revoked viewer's grant" in closed.rcvd.reason
    assert "event: revoked" in lines
