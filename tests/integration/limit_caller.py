"""One process of the rate-limit soak: `callers` concurrent callers check one hot
rate key and one weighted quota key (both at once, all or nothing) until killed or
`seconds` pass, printing each admission's cost and wall-clock time as it is decided."""

from __future__ import annotations

import asyncio
import random
import sys
import time

from application.limit_budgets import LocalBudgets
from domain.limits import LimitCheck, Quota, Rate
from infrastructure.limits import PostgresRateLimiter
from infrastructure.pool import open_pool


async def main(database_url: str, key: str, callers: int, seconds: float) -> None:
    pool = await open_pool(database_url, max_size=callers)
    # As the service checks: busy keys reserve units ahead (application/limit_budgets.py).
    limiter = LocalBudgets(PostgresRateLimiter(pool))
    rate = Rate("soak-rate", limit=40, per=1, burst=10)
    quota = Quota("soak-quota", limit=400, window=86_400)
    deadline = time.monotonic() + seconds
    rng = random.Random()

    async def caller() -> None:
        while time.monotonic() < deadline:
            cost = rng.choice((1.0, 1.0, 4.0))
            decision = await limiter.check([LimitCheck(rate, key), LimitCheck(quota, key, cost)])
            if decision.allowed:
                print(cost, time.time(), flush=True)
            else:
                await asyncio.sleep(min(decision.retry_after, 0.05))

    await asyncio.gather(*(caller() for _ in range(callers)))
    await pool.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
