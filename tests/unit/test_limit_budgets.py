"""Reserved units: fewer round trips for a busy key, never more admitted than the
limit, and nothing kept from a key that goes idle (against an exact in-memory GCRA)."""

from __future__ import annotations

from collections.abc import Sequence

from application.limit_budgets import LocalBudgets
from domain.limits import LimitCheck, LimitDecision, Rate

RATE = Rate("writes", limit=100, per=1, burst=400)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ExactGcra:
    """What vibehq_rate_check decides, for rates, in memory; counts its calls."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.tat: dict[str, float] = {}
        self.calls = 0

    async def check(self, checks: Sequence[LimitCheck]) -> LimitDecision:
        self.calls += 1
        now = self._clock()
        new = {}
        for check in checks:
            rate = check.policy
            assert isinstance(rate, Rate)
            tat = max(self.tat.get(check.storage_key, now), now) + check.cost * rate.interval
            if check.cost > 0 and tat - now > rate.burst * rate.interval + 1e-9:
                wait = tat - now - rate.burst * rate.interval
                return LimitDecision(False, rate, wait, (0.0,) * len(checks), (0.0,) * len(checks))
            new[check.storage_key] = tat
        self.tat.update(new)
        left = tuple(
            (c.policy.burst * c.policy.interval - (new[c.storage_key] - now)) / c.policy.interval
            for c in checks
            if isinstance(c.policy, Rate)
        )
        return LimitDecision(True, None, 0.0, left, (0.0,) * len(checks))


async def test_a_busy_key_takes_far_fewer_round_trips_and_no_more_than_the_burst() -> None:
    clock = Clock()
    limiter = ExactGcra(clock)
    budgets = LocalBudgets(limiter, clock=clock)
    check = [LimitCheck(RATE, "busy")]
    admitted = sum([(await budgets.check(check)).allowed for _ in range(400)])
    assert admitted == 400  # the burst, exactly: reservations never refuse what fits
    assert limiter.calls <= 20  # a round trip per many requests
    refused = await budgets.check(check)
    assert not refused.allowed
    assert refused.retry_after > 0
    clock.now += 10  # the bucket is whole again
    calls = limiter.calls
    admitted = 0
    for _ in range(160):  # 80 a second: busy, but under the limit of 100
        clock.now += 0.0125
        admitted += (await budgets.check(check)).allowed
    assert admitted == 160
    assert limiter.calls - calls <= 12  # reserved ahead: a round trip per many requests


async def test_small_bursts_are_decided_a_request_at_a_time() -> None:
    clock = Clock()
    limiter = ExactGcra(clock)
    budgets = LocalBudgets(limiter, clock=clock)
    check = [LimitCheck(Rate("writes", limit=6, per=60, burst=6), "small")]
    admitted = sum([(await budgets.check(check)).allowed for _ in range(10)])
    assert admitted == 6  # exactly the burst: nothing held back in reserve
    assert limiter.calls == 10


async def test_two_processes_never_admit_more_than_the_limit() -> None:
    clock = Clock()
    limiter = ExactGcra(clock)
    processes = [LocalBudgets(limiter, clock=clock) for _ in range(2)]
    check = [LimitCheck(RATE, "shared")]
    admitted = 0
    for n in range(3000):  # 3 s at 1,000 requests/s across the two
        clock.now += 0.001
        admitted += (await processes[n % 2].check(check)).allowed
    assert admitted <= 400 + 100 * 3 + 1


async def test_what_an_idle_key_reserved_goes_back_on_its_next_call() -> None:
    clock = Clock()
    limiter = ExactGcra(clock)
    budgets = LocalBudgets(limiter, clock=clock)
    check = [LimitCheck(RATE, "bursty")]
    for _ in range(12):  # busy for a moment: it reserves ahead
        await budgets.check(check)
    clock.now += 0.5
    for _ in range(12):
        await budgets.check(check)
    reserved_tat = limiter.tat["writes:bursty"]
    clock.now += 30  # idle past its lease
    await budgets.check(check)  # the leftover is refunded in this call
    # Only this request's unit (and any new reservation, which it is not: the key was
    # idle) is consumed beyond a full bucket.
    assert limiter.tat["writes:bursty"] <= clock.now + 1 * RATE.interval + 1e-9
    assert reserved_tat > clock.now - 30  # (it had reserved ahead before)
