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
    denied = decisions(page, "writes", "denied")
    assert len(denied) == 1
    assert denied[0] >= 1  # (counters are per process: other tests may add to it)


async def test_an_admin_sets_policies_with_overrides_and_shadow_mode(api: Api) -> None:
    rate = {"kind": "rate", "limit": 2, "per_seconds": 60, "overrides": {"big-factory": 4}}
    async with (
        await api.as_("root", "admin") as admin,
        await api.as_("factory", "write") as factory,
        await api.as_("big-factory", "write") as big,
    ):
        defaults = (await factory.get("/limits")).json()
        refused = await factory.put("/limits/writes", json=rate)
        bad = await admin.put("/limits/workspaces", json={**rate, "kind": "quota", "burst": 3})
        unknown = await admin.put("/limits/everything", json=rate)
        set_ = await admin.put("/limits/writes", json=rate)
        again = await admin.put("/limits/writes", json=rate)  # the same: nothing recorded
        shadow = {"kind": "quota", "limit": 1, "per_seconds": 86400, "mode": "shadow"}
        assert (await admin.put("/limits/workspaces", json=shadow)).status_code == 200
        small = [(await factory.post("/workspaces", json={"name": f"s{n}"})) for n in range(3)]
        large = [(await big.post("/workspaces", json={"name": f"b{n}"})) for n in range(5)]
        dropped = await admin.delete("/limits/writes")
        after = await factory.post("/workspaces", json={"name": "after"})
        page = (await admin.get("/metrics")).text
    assert {p["group"]: p["source"] for p in defaults["policies"]} == {
        "auth-failures": "default",
        "writes": "default",
        "workspaces": "default",
    }
    assert refused.status_code == 403
    assert (bad.status_code, bad.json()["field"]) == (422, "burst")
    assert unknown.status_code in (400, 404, 422)
    assert set_.status_code == 200, set_.text
    [writes] = [p for p in set_.json()["policies"] if p["group"] == "writes"]
    assert (writes["source"], writes["set_by"], writes["spec"]["limit"]) == ("set", "root", 2)
    assert again.json()["version"] == set_.json()["version"]
    # Its own budget for each: 2 a minute, and the override's 4.
    assert [a.status_code for a in small] == [201, 201, 429]
    assert small[0].headers["RateLimit-Policy"] == '"writes";q=2;w=60'  # shadow: no header
    assert [a.status_code for a in large] == [201, 201, 201, 201, 429]
    # The shadow quota of one a day refused nobody.
    assert "workspaces" not in small[2].json()["detail"]
    # Back to the default writes limit (4 a minute, a fresh budget for this count).
    assert [p["source"] for p in dropped.json()["policies"] if p["group"] == "writes"] == [
        "default"
    ]
    assert after.status_code in (201, 429)  # the default's budget, already spent by 3
    # Refusals and would-be refusals become one ops event per key (per process).
    recorded = await api.app.state.breaches.flush(api.services.ops)
    assert recorded >= 4  # writes: factory, big-factory; shadow workspaces: both
    shadowed = decisions(page, "workspaces", "shadow_denied")
    assert len(shadowed) == 1
    assert shadowed[0] >= 6  # 2 of factory's 3, 4 of big-factory's 5


def decisions(page: str, policy: str, outcome: str) -> list[float]:
    """The rate-limit decision counters of a /metrics page for one policy and outcome."""
    return [
        sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
        if sample.name == "vibehq_rate_limit_decisions_total"
        and sample.labels == {"policy": policy, "outcome": outcome}
    ]


async def test_a_policy_kept_per_token_gives_each_token_its_own_budget(api: Api) -> None:
    per_token = {"kind": "rate", "limit": 2, "per_seconds": 60, "key": "token"}
    async with (
        await api.as_("root", "admin") as admin,
        await api.as_("fleet", "write") as first,
        await api.as_("fleet", "write") as second,  # the same actor, another token
    ):
        assert (await admin.put("/limits/writes", json=per_token)).status_code == 200
        beats = {"source": "fleet", "interval_seconds": 30}
        answers = [await client.post("/ops/heartbeats", json=beats) for client in
                   (first, first, first, second, second, second)]  # fmt: skip
        by_actor = {**per_token, "key": "actor", "limit": 3}
        assert (await admin.put("/limits/writes", json=by_actor)).status_code == 200
        shared = [await client.post("/ops/heartbeats", json=beats) for client in
                  (first, second, first, second)]  # fmt: skip
    assert [a.status_code for a in answers] == [201, 201, 429, 201, 201, 429]
    assert [a.status_code for a in shared] == [201, 201, 201, 429]


async def test_failed_authentication_is_limited_per_address_in_the_database(
    api: Api, pool: asyncpg.Pool
) -> None:
    slow = {"kind": "rate", "limit": 1, "per_seconds": 60, "burst": 3}
    async with await api.as_("root", "admin") as admin:
        assert (await admin.put("/limits/auth-failures", json=slow)).status_code == 200
        guessing = {"Authorization": "Bearer vhq_guess"}
        answers = [
            (await api.client.get("/workspaces", headers=guessing)).status_code for _ in range(6)
        ]
        blocked = await admin.get("/workspaces")  # the address waits, whatever the token
        await admin.delete("/limits/auth-failures")
    # Three failures in the burst; the fourth is refused by the database's count, and
    # from then on this process answers 429 itself.
    assert answers == [401, 401, 401, 401, 429, 429]
    assert blocked.status_code == 429
    shared = await pool.fetchval(
        "SELECT count(*) FROM vibehq_rate_gcra WHERE key LIKE 'auth-failures:%'"
    )
    assert shared >= 1  # the count every process shares
