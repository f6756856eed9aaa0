"""Rate limits decided in PostgreSQL: one round trip per request, exact across every
process and host that shares the database (migration 0008 has the function)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from domain.limits import LimitCheck, LimitDecision, Quota, Rate


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
