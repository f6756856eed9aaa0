"""The factories' client against the real service: typed answers, writes recorded once
even when an answer is lost, rebase on a stale base, feeds that resume, terminals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import asyncpg
import httpx
import pytest
import pytest_asyncio

from domain.contracts import (
    CheckRun,
    EditFile,
    PatchOperation,
    SearchReplace,
    WorkspaceSummary,
    WriteFile,
)
from infrastructure.embedded.engines import Engines
from interfaces.client import ApiError, PatchRejected, VibeClient
from tests.integration.api import Api, serve_api

pytestmark = pytest.mark.timeout(120)


@pytest_asyncio.fixture
async def api(database_url: str, engines: Engines, pool: asyncpg.Pool) -> AsyncIterator[Api]:
    async with serve_api(database_url, engines.nats_url, pool) as served:
        yield served


async def client(api: Api, actor: str = "ui-factory", **options: object) -> VibeClient:
    return VibeClient(str(api.client.base_url), await api.token(actor, "write"), **options)  # type: ignore[arg-type]


class LosesFirstAnswer(httpx.AsyncBaseTransport):
    """Sends every request, but once armed drops the answer to the next POST: the write
    happened and the factory never heard back (a timeout, a dropped connection)."""

    def __init__(self) -> None:
        self._real = httpx.AsyncHTTPTransport()
        self.armed = False
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._real.handle_async_request(request)
        if request.method == "POST" and self.armed and not self.lost:
            self.lost += 1
            await response.aread()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


async def _events(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM vibehq_events")
    return count


async def test_a_write_whose_answer_was_lost_is_recorded_once(api: Api, pool: asyncpg.Pool) -> None:
    lossy = LosesFirstAnswer()
    async with await client(api, transport=lossy) as hq:
        ws = await hq.create_workspace("shop", {"app.py": "x = 1\n"})
        before = await _events(pool)
        lossy.armed = True
        record = await hq.submit(
            ws.id, [WriteFile(path="app.py", content="x = 2\n")], base_version=2, task_id="T-1"
        )
    assert lossy.lost == 1
    assert (record.outcome, record.version) == ("applied", 3)
    assert await _events(pool) == before + 1  # the retry found the first outcome
    async with await client(api) as reader:
        assert [r.version for r in await reader.history(ws.id)] == [2, 3]


async def test_typed_answers_rejections_and_a_rebase(api: Api) -> None:
    async with await client(api) as hq, await client(api, "data-factory") as other:
        ws = await hq.create_workspace("shop", {"app.py": "x = 1\ny = 1\n"})
        assert isinstance(ws, WorkspaceSummary)
        await hq.grant(ws.id, "data-factory", "write")
        edit = [EditFile(path="app.py", edits=[SearchReplace(search="x = 1", replace="x = 2")])]
        await other.submit(ws.id, edit, base_version=3, task_id="T-2")  # moves ahead
        stale = [EditFile(path="app.py", edits=[SearchReplace(search="x = 1", replace="x = 3")])]
        with pytest.raises(PatchRejected) as rejected:
            await hq.submit(ws.id, stale, base_version=2, task_id="T-1")
        assert rejected.value.reason == "stale_base"
        assert rejected.value.status == 409

        built_on: list[int] = []

        async def build(head: WorkspaceSummary) -> Sequence[PatchOperation]:
            built_on.append(head.version)
            return [EditFile(path="app.py", edits=[SearchReplace(search="y = 1", replace="y = 2")])]

        record = await hq.submit_rebasing(ws.id, build, task_id="T-1")
        assert record.outcome == "applied"
        assert built_on == [5]  # the head after the other factory's patch and the rejection
        checks = await hq.report_checks("T-1", [CheckRun(name="unit", status="passed")])
        delivered = await hq.deliver(
            "T-1", workspace_id=ws.id, final_version=record.version, summary="y is 2"
        )
        report = await hq.delivery_report("T-1", after_position=delivered.position)
        assert checks.position < delivered.position
        assert [(f.factory, f.status) for f in report.factories] == [("ui-factory", "delivered")]
        with pytest.raises(ApiError) as missing:
            await hq.workspace("00000000-0000-0000-0000-000000000001")
        assert missing.value.status == 404
        listed = [w.id async for w in hq.workspaces()]
        assert ws.id in listed


async def test_feeds_replay_and_follow_and_terminals_are_written_once(api: Api) -> None:
    async with await client(api) as hq:
        ws = await hq.create_workspace("feed", {"a": "1\n"})
        for n in range(2, 4):
            await hq.submit(
                ws.id, [WriteFile(path="a", content=f"{n}\n")], base_version=n, task_id="T"
            )
        feed = hq.workspace_feed(ws.id, after=0)
        seen = [await asyncio.wait_for(anext(feed), 10) for _ in range(3)]
        await feed.aclose()
        assert [(m.outcome, m.version) for m in seen] == [
            ("applied", 2),
            ("applied", 3),
            ("applied", 4),
        ]
        for line in ("$ make\r\n", "ok\r\n"):
            await hq.write_terminal("agent-1", line)
        terminal = hq.terminal_feed("agent-1")
        shown = [await asyncio.wait_for(anext(terminal), 10) for _ in range(2)]
        await terminal.aclose()
        assert [(m.seq, m.data) for m in shown] == [(1, "$ make\r\n"), (2, "ok\r\n")]
