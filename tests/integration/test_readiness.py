"""Readiness tells a stuck or stopped follower from a busy one, and NATS from the rest."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from application.aggregates import AggregateRepository, CommandContext
from application.ops import OpsService
from domain.contracts import OpsEventRequest
from infrastructure.event_store.postgres_store import PostgresEventStore
from infrastructure.health import check_followers
from infrastructure.projections.checkpoints import (
    PostgresFollowers,
    advance,
    claim,
    release_lease,
    try_lease,
)

pytestmark = pytest.mark.timeout(60)


async def test_a_relay_that_holds_events_without_moving_turns_readiness_red(
    database_url: str, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    followers = PostgresFollowers(pool, known=["relay", "delivery"], stuck_after=0.3)
    relay = await asyncpg.connect(database_url)  # holds the relay's lease, never publishes
    try:
        assert await try_lease(relay, "relay")
        await claim(relay, "relay")
        ops = OpsService(store, AggregateRepository(store))
        context = CommandContext(actor="monitor", correlation_id=uuid.uuid4())
        await ops.report(OpsEventRequest(source="svc", kind="k", severity="info"), context)
        states = {lag.name: lag.state for lag in await followers.lags()}
        assert states == {"relay": "catching_up", "delivery": "stopped"}
        await asyncio.sleep(0.6)
        lags = await followers.lags()
        assert {lag.name: lag.state for lag in lags} == {"relay": "stuck", "delivery": "stopped"}
        verdict = check_followers([lag for lag in lags if lag.name == "relay"], nats_ok=True)
        assert (verdict.ok, verdict.required) == (False, True)
        assert "relay stuck at position 0 (1 events waiting" in verdict.detail
        # With NATS away, a waiting relay is expected: degraded, not down.
        held = check_followers([lag for lag in lags if lag.name == "relay"], nats_ok=False)
        assert (held.ok, held.required) == (False, False)
        stopped = check_followers(lags, nats_ok=True)
        assert (stopped.ok, stopped.detail) == (False, "not running anywhere: delivery")
        # Once it moves again, it is current.
        head = await store.head_position()
        [event] = await store.read_log()
        await advance(relay, "relay", head, 1, event.recorded_at)
        [relay_lag] = [lag for lag in await followers.lags() if lag.name == "relay"]
        assert relay_lag.state == "current"
        assert check_followers([relay_lag], nats_ok=True).ok
    finally:
        await release_lease(relay, "relay")
        await relay.close()
