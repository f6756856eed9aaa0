"""Units reserved ahead from the shared limiter, so a busy key costs a round trip per
burst of requests instead of per request, and no limit gets looser.

A key this process sees often (more than once in the last second) asks the database
for its request's cost plus a reservation (what it used in the last second, up to a
quarter of the policy's burst; none for bursts under 100, where a unit held back would
be felt, and none for quotas). The database consumes the reservation at once, so
every process together can never admit more than the configured limit: reserved
units are admitted locally until they run out or a second passes. What was reserved
and not used goes back with the key's next database call (a negative cost), so an
idle key loses nothing for long: a rate's units come back with time anyway, and a
quota's on the key's next use. A request that would not fit with its reservation is
asked again with only what the refusal says fits, so a reservation never refuses a
request the limit would admit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from application.ports import RateLimiter
from domain.limits import LimitCheck, LimitDecision, Policy, Rate

#: How long reserved units may be used locally.
LEASE_SECONDS = 1.0
#: Smaller bursts are decided a request at a time: a unit held back there is felt.
MIN_BURST = 100


@dataclass
class _Budget:
    left: float = 0.0
    until: float = 0.0
    #: Requests for the key in the current one-second window, and the window before.
    seen: int = 0
    seen_before: int = 0
    window: float = 0.0
    #: The database's last answer for the key, for the RateLimit headers.
    remaining: float = 0.0
    reset_after: float = 0.0


class LocalBudgets:
    def __init__(self, limiter: RateLimiter, clock: Callable[[], float] = time.monotonic) -> None:
        self._limiter = limiter
        self._clock = clock
        self._budgets: dict[tuple[str, Policy], _Budget] = {}

    def __len__(self) -> int:
        return len(self._budgets)

    async def check(self, checks: Sequence[LimitCheck]) -> LimitDecision:
        """The same decision the limiter would give, from reserved units when every
        check has enough, else from the database (reserving ahead for busy keys)."""
        now = self._clock()
        # Per key *and* policy: units reserved under one policy are never spent or
        # given back under another (a changed limit starts afresh, never looser).
        budgets = [self._budget((check.key, check.policy), now) for check in checks]
        for budget in budgets:
            budget.seen += 1
        if all(b.until > now and b.left >= c.cost for b, c in zip(budgets, checks, strict=True)):
            for budget, check in zip(budgets, checks, strict=True):
                budget.left -= check.cost
                budget.remaining = max(0.0, budget.remaining - check.cost)
            return LimitDecision(
                True,
                None,
                0.0,
                tuple(b.remaining for b in budgets),
                tuple(b.reset_after for b in budgets),
            )
        extras = [self._reservation(b, c) for b, c in zip(budgets, checks, strict=True)]
        refunds = [b.left for b in budgets]  # unused, expired or not: netted now
        for budget in budgets:
            budget.left, budget.until = 0.0, 0.0
        asked = [
            replace(c, cost=c.cost + extra - refund)
            for c, extra, refund in zip(checks, extras, refunds, strict=True)
        ]
        decision = await self._limiter.check(asked)
        if not decision.allowed and _reservation_refused(decision, checks, extras):
            # Too much with the reservation: ask again with what fits (the request alone,
            # plus the part of the reservation the refusal says there is room for).
            extras = _what_fits(decision, checks, extras)
            asked = [
                replace(c, cost=c.cost + extra - r)
                for c, extra, r in zip(checks, extras, refunds, strict=True)
            ]
            decision = await self._limiter.check(asked)
        if not decision.allowed:
            decision = _alone(decision, checks, extras)
            if any(refunds):  # the refunds did not happen: give them back alone
                await self._limiter.check(
                    [replace(c, cost=-r) for c, r in zip(checks, refunds, strict=True) if r]
                )
            return decision
        for budget, extra, left, reset in zip(
            budgets, extras, decision.remaining, decision.reset_after, strict=True
        ):
            # Added to (not set): a concurrent caller's reservation for the key stays.
            budget.left, budget.until = budget.left + extra, now + LEASE_SECONDS
            budget.remaining, budget.reset_after = left + extra, reset
        return replace(decision, remaining=tuple(b.remaining for b in budgets))

    def _budget(self, key: tuple[str, Policy], now: float) -> _Budget:
        budget = self._budgets.get(key)
        if budget is None:
            if len(self._budgets) >= 100_000:  # forget keys with nothing reserved
                self._budgets = {k: b for k, b in self._budgets.items() if b.left > 0}
            budget = self._budgets[key] = _Budget(window=now)
        if now - budget.window >= 1.0:
            budget.seen_before = budget.seen if now - budget.window < 2.0 else 0
            budget.seen, budget.window = 0, now
        return budget

    @staticmethod
    def _reservation(budget: _Budget, check: LimitCheck) -> float:
        """Units to reserve beyond this request: what the key used in the last second
        here (if more than one), up to a quarter of a rate's burst; none for quotas."""
        if not isinstance(check.policy, Rate) or check.cost <= 0:
            return 0.0
        if check.policy.burst < MIN_BURST:
            return 0.0
        busy = max(budget.seen, budget.seen_before) - 1
        return float(max(0, min(busy, int(check.policy.burst / 4))))


def _over_by_reservation(
    decision: LimitDecision, checks: Sequence[LimitCheck], extras: Sequence[float]
) -> float:
    """How much of a rate refusal's wait its reservation caused (0: none; a rate's
    refusal waits for the units over its burst)."""
    for check, extra in zip(checks, extras, strict=True):
        if check.policy == decision.denied_by and isinstance(check.policy, Rate):
            return extra * check.policy.interval
    return 0.0


def _reservation_refused(
    decision: LimitDecision, checks: Sequence[LimitCheck], extras: Sequence[float]
) -> bool:
    """Would the request alone have fitted? Yes if the wait is no more than what the
    reservation added."""
    caused = _over_by_reservation(decision, checks, extras)
    return caused > 0 and decision.retry_after <= caused + 1e-6


def _alone(
    decision: LimitDecision, checks: Sequence[LimitCheck], extras: Sequence[float]
) -> LimitDecision:
    """A refusal's Retry-After for the request alone, not its reservation too."""
    caused = _over_by_reservation(decision, checks, extras)
    if not caused:
        return decision
    return replace(decision, retry_after=max(decision.retry_after - caused, 0.001))


def _what_fits(
    decision: LimitDecision, checks: Sequence[LimitCheck], extras: Sequence[float]
) -> list[float]:
    """Each check's reservation cut by what the refusal says is over (a single rate
    check: the units it would wait for; several: no reservation at all)."""
    if len(checks) != 1 or not isinstance(checks[0].policy, Rate):
        return [0.0] * len(checks)
    over = math.ceil(decision.retry_after / checks[0].policy.interval - 1e-9)
    return [float(max(0, int(extras[0]) - over))]
