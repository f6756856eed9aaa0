"""Limits decided in PostgreSQL are exact under concurrency: a brand-new key, a hot key
over time, weighted quotas, and several limits admitted together or not at all."""

from __future__ import annotations

import asyncio
import random
from uuid import uuid4

import asyncpg
import pytest

from application.aggregates import AggregateRepository, CommandContext
from application.limits import LimitService
from domain.contracts import LimitPolicySpec
from domain.limits import LimitCheck, Quota, Rate
from infrastructure.event_store.postgres_store import PostgresEventStore
from infrastructure.limits import PostgresRateLimiter
from infrastructure.pool import open_pool

pytestmark = pytest.mark.timeout(120)


async def _clock(pool: asyncpg.Pool) -> float:
    moment: float = await pool.fetchval("SELECT extract(epoch FROM clock_timestamp())::float8")
    return moment


async def test_a_brand_new_key_admits_its_burst_and_no_more(pool: asyncpg.Pool) -> None:
    limiter = PostgresRateLimiter(pool)
    rate = Rate("writes", limit=10, per=60, burst=5)
    key = f"actor-{uuid4().hex}"
    began = await _clock(pool)
    decisions = await asyncio.gather(*(limiter.check([LimitCheck(rate, key)]) for _ in range(40)))
    took = await _clock(pool) - began
    admitted = sum(d.allowed for d in decisions)
    assert 5 <= admitted <= 5 + rate.limit / rate.per * took + 1
    denied = next(d for d in decisions if not d.allowed)
    assert denied.denied_by == rate
    assert 0 < denied.retry_after <= rate.interval + 1  # the next unit, within a second


async def test_a_hot_key_shared_by_many_pools_stays_within_the_gcra_bound(
    database_url: str,
) -> None:
    pools = [await open_pool(database_url, max_size=8) for _ in range(4)]  # as 4 processes
    try:
        rate = Rate("patches", limit=200, per=1, burst=20)
        key = f"actor-{uuid4().hex}"
        admitted = 0
        stop = asyncio.Event()

        async def caller(limiter: PostgresRateLimiter) -> None:
            nonlocal admitted
            while not stop.is_set():
                if (await limiter.check([LimitCheck(rate, key)])).allowed:
                    admitted += 1

        began = await _clock(pools[0])
        callers = [
            asyncio.create_task(caller(PostgresRateLimiter(p))) for p in pools for _ in range(8)
        ]
        await asyncio.sleep(2)
        stop.set()
        await asyncio.gather(*callers)
        elapsed = await _clock(pools[0]) - began
    finally:
        for p in pools:
            await p.close()
    bound = rate.burst + rate.limit / rate.per * elapsed
    assert admitted <= bound + 1, (admitted, bound)
    assert admitted >= 0.5 * bound  # demand exceeded the rate: it was not starved either


async def test_weighted_quotas_never_go_over_and_a_denial_consumes_nothing(
    pool: asyncpg.Pool,
) -> None:
    limiter = PostgresRateLimiter(pool)
    daily = Quota("model-calls", limit=100, window=86_400)
    key = f"factory-{uuid4().hex}"
    costs = [random.choice([1, 4]) for _ in range(80)]  # flash = 1, pro = 4
    decisions = await asyncio.gather(*(limiter.check([LimitCheck(daily, key, c)]) for c in costs))
    spent = sum(c for c, d in zip(costs, decisions, strict=True) if d.allowed)
    assert 97 <= spent <= 100  # full, and never over (a cost-4 call at 97 is refused)
    # All or nothing: a rate that would admit is not consumed when the quota refuses.
    hourly = Rate("model-rate", limit=1000, per=3600, burst=3)
    other = f"factory-{uuid4().hex}"
    refused = await limiter.check(
        [LimitCheck(hourly, other), LimitCheck(daily, key, 4)]  # the quota is spent
    )
    assert (refused.allowed, refused.denied_by) == (False, daily)
    for _ in range(3):  # the rate's burst of 3 is all still there
        assert (await limiter.check([LimitCheck(hourly, other)])).allowed
    assert not (await limiter.check([LimitCheck(hourly, other)])).allowed


async def test_the_routers_port_charges_each_call_its_models_weight(
    pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    """What the model router will call: `admit(["model-calls"], actor, model=...)`,
    under a quota set as an operator sets it, weights per model (others cost 1)."""
    limits = LimitService(store, AggregateRepository(store), PostgresRateLimiter(pool), {})
    admin = CommandContext(actor="ops", correlation_id=uuid4(), admin=True)
    spec = LimitPolicySpec(kind="quota", limit=10, per_seconds=3600, weights={"pro": 4})
    await limits.set("model-calls", spec, admin)

    async def admitted(model: str) -> bool:
        admission = await limits.admit(["model-calls"], "agent-factory", model=model)
        return admission.decision.allowed

    assert [await admitted("pro") for _ in range(3)] == [True, True, False]  # 4 + 4, not 12
    assert [await admitted("flash") for _ in range(3)] == [True, True, False]  # 9, 10, not 11
    other = await limits.admit(["model-calls"], "ui-factory", model="pro")
    assert other.decision.allowed  # each actor its own budget
