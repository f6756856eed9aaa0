"""PostgreSQL killed under load: 503 with Retry-After while it is away, one log line,
nothing acknowledged lost, and the service back by itself when the server is."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from infrastructure.embedded.engines import Engines
from infrastructure.embedded.postgres import EmbeddedPostgres
from tests.integration.api import serve_on_own_postgres
from tests.integration.test_http_patches import new_workspace

pytestmark = pytest.mark.timeout(180)

WRITERS = 4


async def test_a_database_outage_is_503_and_the_service_recovers_by_itself(
    tmp_path: Path, engines: Engines, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve_on_own_postgres(tmp_path / "pg", engines.nats_url) as (api, server, pool):
        await _outage_under_load(api, server, pool, caplog)


async def _outage_under_load(
    api: object, server: EmbeddedPostgres, pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    writer: httpx.AsyncClient = await api.as_("ui-factory", "write")  # type: ignore[attr-defined]
    ws = await new_workspace(writer, a="1\n")
    answers: list[httpx.Response] = []
    stop = asyncio.Event()

    async def submit_until_stopped(n: int) -> None:
        while not stop.is_set():
            operation = {"op": "create_file", "path": f"w{n}/{uuid.uuid4().hex}", "content": "x"}
            body = {"base_version": 1, "task_id": "T", "operations": [operation]}
            # A transport error is never expected: the server answers without its database.
            answers.append(await writer.post(f"/workspaces/{ws}/patches", json=body))
            await asyncio.sleep(0.02)

    caplog.set_level(logging.ERROR, logger="interfaces.http.outage")
    load = [asyncio.create_task(submit_until_stopped(n)) for n in range(WRITERS)]
    try:
        await asyncio.sleep(0.5)
        await asyncio.to_thread(server.crash)
        await asyncio.sleep(2.0)
        during = await writer.get(f"/workspaces/{ws}")
        ready = await writer.get("/ready")
        await asyncio.to_thread(server.start)  # on the same port: a running serve finds it
        recovered = await _first_success_after(answers, len(answers), within=30)
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.gather(*load)
    statuses = {answer.status_code for answer in answers}
    assert statuses <= {201, 503}, [a.text for a in answers if a.status_code not in (201, 503)]
    assert (during.status_code, during.headers.get("retry-after")) == (503, "2")
    assert during.headers["content-type"] == "application/problem+json"
    assert ready.status_code == 503
    unavailable = [a for a in answers if a.status_code == 503]
    assert unavailable, "the outage was never seen"
    assert all(a.headers.get("retry-after") == "2" for a in unavailable)
    assert recovered, "no write succeeded within 30 s of the database's return"
    # One line for the outage, not a traceback per request.
    lines = [r for r in caplog.records if r.name == "interfaces.http.outage"]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    # Every acknowledged write is in the log.
    acknowledged = {a.json()["patch_id"] for a in answers if a.status_code == 201}
    rows = await pool.fetch("SELECT event_id FROM vibehq_events")
    assert acknowledged <= {str(row["event_id"]) for row in rows}


async def _first_success_after(answers: list[httpx.Response], seen: int, within: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if any(a.status_code == 201 for a in answers[seen:]):
            return True
        await asyncio.sleep(0.1)
    return False
