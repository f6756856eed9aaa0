"""Rate limits decided in PostgreSQL: one round trip per request, exact across every
process and host that shares the database (migration 0008 has the function)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from application.limits import LimitService
from domain.limits import LimitCheck, LimitDecision, Policy, Quota, Rate
from infrastructure.fanout.reloads import Reloads
from infrastructure.fanout.subjects import Subjects
from infrastructure.settings import Settings


class PostgresRateLimiter:
    """Implements `application.ports.RateLimiter`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def check(self, checks: Sequence[LimitCheck]) -> LimitDecision:
        if not checks:
            return LimitDecision(True, None, 0.0, (), ())
        row = await self._pool.fetchrow(
            "SELECT * FROM vibehq_rate_check($1, $2, $3, $4, $5)",
            [c.storage_key for c in checks],
            [c.kind for c in checks],
            [_period(c) for c in checks],
            [_limit(c) for c in checks],
            [c.cost for c in checks],
        )
        assert row is not None
        denied = row["denied"]
        return LimitDecision(
            allowed=row["allowed"],
            denied_by=checks[denied - 1].policy if denied else None,
            retry_after=float(row["retry_after"]),
            remaining=tuple(max(0.0, r) for r in row["remaining"]),
            reset_after=tuple(max(0.0, r) for r in row["reset_after"]),
        )


def _period(check: LimitCheck) -> float:
    policy = check.policy
    return policy.interval if isinstance(policy, Rate) else policy.window


def _limit(check: LimitCheck) -> float:
    policy = check.policy
    return policy.burst if isinstance(policy, Rate) else policy.limit


__all__ = ["PostgresRateLimiter", "Quota", "Rate"]


#: Failed authentications per client address: 20 in a burst, then one per 3 s.
AUTH_FAILURES: Final = Rate("auth-failures", limit=1, per=3, burst=20)


def default_limits(settings: Settings) -> dict[str, Policy]:
    """The policies a group has until one is recorded (`vibehq limits set`)."""
    found: dict[str, Policy] = {"auth-failures": AUTH_FAILURES}
    if settings.limit_writes > 0:
        per_minute = float(settings.limit_writes)
        found["writes"] = Rate("writes", limit=per_minute, per=60, burst=per_minute)
    if settings.limit_workspaces > 0:
        found["workspaces"] = Quota("workspaces", limit=settings.limit_workspaces, window=86_400)
    return found


async def follow_limit_policies(
    client: NatsClient, subjects: Subjects, limits: LimitService
) -> Reloads:
    """Load the recorded policies, and again whenever a change goes past on NATS; the
    caller stops the returned reloads when it closes. Subscribed before the first load,
    so a change recorded in between is not missed."""
    reloads = Reloads(limits.reload, "the limit policies")
    reloads.start()

    async def changed(_: Msg) -> None:
        reloads.want()

    await client.subscribe(subjects.events(aggregate="limitpolicybook"), cb=changed)
    await limits.reload()
    return reloads
