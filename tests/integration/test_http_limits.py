"""Write limits over HTTP: 429 naming the policy with Retry-After and RateLimit
headers, per actor, and a denial by one policy consumes nothing from the other."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from infrastructure.embedded.engines import Engines
from tests.integration.api import Api, serve_api

pytestmark = pytest.mark.timeout(60)


@pytest_asyncio.fixture
async def api(database_url: str, engines: Engines, pool: asyncpg.Pool) -> AsyncIterator[Api]:
    async with serve_api(
        database_url, engines.nats_url, pool, limit_writes=4, limit_workspaces=2
    ) as served:
        yield served


async def test_writes_over_the_limit_are_429_with_the_standard_headers(api: Api) -> None:
    async with (
        await api.as_("busy-factory", "write") as busy,
        await api.as_("calm", "write") as calm,
    ):
        first = await busy.post("/workspaces", json={"name": "w"})
        assert first.status_code == 201, first.text
        assert first.headers["RateLimit-Policy"] == '"writes";q=4;w=60, "workspaces";q=2;w=86400'
        assert first.headers["RateLimit"].startswith('"writes";r=3;')
        ws = first.json()["id"]
        answers = [
            await busy.post(
                f"/workspaces/{ws}/patches",
                json={
                    "base_version": 1,
                    "task_id": "T",
                    "operations": [{"op": "create_file", "path": f"f{n}", "content": "x\n"}],
                },
            )
            for n in range(4)
        ]
        assert [a.status_code for a in answers] == [201, 201, 201, 429]
        refused = answers[-1]
        assert refused.headers["content-type"] == "application/problem+json"
        assert "over the 'writes' limit" in refused.json()["detail"]
        assert 1 <= int(refused.headers["Retry-After"]) <= 16  # 60 s / 4 per unit, rounded up
        assert refused.headers["RateLimit"].startswith('"writes";r=0;')
        # Another actor has its own budget.
        assert (await calm.post("/workspaces", json={"name": "c"})).status_code == 201
        # The daily workspace quota refuses without spending the writes budget.
        assert (await calm.post("/workspaces", json={"name": "c2"})).status_code == 201
        third = await calm.post("/workspaces", json={"name": "c3"})
        assert third.status_code == 429
        assert "over the 'workspaces' limit" in third.json()["detail"]
        ops = await calm.post("/ops/heartbeats", json={"source": "calm", "interval_seconds": 30})
        assert ops.status_code == 201  # writes: 2 of 4 used, the refused creation took none
        assert ops.headers["RateLimit"].startswith('"writes";r=1;')
        page = (await calm.get("/metrics")).text
    denied = [
        sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
        if sample.name == "vibehq_rate_limit_decisions_total"
        and sample.labels == {"policy": "writes", "outcome": "denied"}
    ]
    assert len(denied) == 1
    assert denied[0] >= 1  # (counters are per process: other tests may add to it)
