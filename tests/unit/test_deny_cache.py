"""The per-process deny cache repeats a refusal until it expires, never an admission."""

from __future__ import annotations

from domain.limits import LimitDecision, Rate
from interfaces.http.limits import DenyCache

WRITES = Rate("writes", limit=60, per=60, burst=60)


def test_a_refusal_is_repeated_until_its_retry_time_and_then_forgotten() -> None:
    now = [100.0]
    cache = DenyCache(clock=lambda: now[0])
    refused = LimitDecision(False, WRITES, 5.0, (0.0,), (60.0,))
    assert cache.refused(("ui-factory", "writes")) is None
    cache.remember(("ui-factory", "writes"), refused, {"RateLimit": '"writes";r=0;t=60'})
    now[0] += 2
    repeated = cache.refused(("ui-factory", "writes"))
    assert repeated is not None
    assert (repeated[0].allowed, repeated[0].retry_after) == (False, 3.0)
    assert cache.refused(("data-factory", "writes")) is None  # someone else: ask the database
    now[0] += 3.5
    assert cache.refused(("ui-factory", "writes")) is None  # due again: ask the database
