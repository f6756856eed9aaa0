"""Refusals by rate limits, summed per key per minute into one ops event each.

A flood of 429s must not become a flood of events. Each process counts what its
limits refused (and what shadow policies would have refused) per (policy, key), and
once a minute records one `warning` ops event per pair from source `vibehq.limits`
(kind `rate_limited`, or `rate_limited_shadow`), with the count and the minute in its
attributes. They show in the ops overview's recent alerts and on `/ws/ops`. Each
process records its own count (idempotency key per process and minute), so N workers
that all refused one key make up to N events for that minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import Counter
from datetime import UTC, datetime
from uuid import uuid4

from application.aggregates import CommandContext
from application.ops import OpsService
from domain.contracts import OpsEventRequest

log = logging.getLogger(__name__)

SOURCE = "vibehq.limits"


class BreachLog:
    def __init__(self, every: float = 60.0) -> None:
        self._counts: Counter[tuple[str, str, bool]] = Counter()
        self._every = every
        self._since = datetime.now(UTC)

    def seen(self, policy: str, key: str, *, shadow: bool = False) -> None:
        self._counts[(policy, key, shadow)] += 1

    async def flush(self, ops: OpsService) -> int:
        """Record what was counted since the last flush; how many events."""
        counts, self._counts = self._counts, Counter()
        since, self._since = self._since, datetime.now(UTC)
        minute = since.strftime("%Y-%m-%dT%H:%M")
        for (policy, key, shadow), count in sorted(counts.items()):
            would = "would have refused" if shadow else "refused"
            request = OpsEventRequest(
                source=SOURCE,
                kind="rate_limited_shadow" if shadow else "rate_limited",
                severity="warning",
                message=f"'{policy}' {would} {key} {count} time(s) from {minute} UTC",
                attributes={"policy": policy, "key": key, "count": str(count), "from": minute},
            )
            context = CommandContext(
                actor=SOURCE,
                correlation_id=uuid4(),
                idempotency_key=f"breach:{policy}:{key}:{shadow}:{minute}:{os.getpid()}",
            )
            await ops.report(request, context)
        return len(counts)

    async def run(self, ops: OpsService) -> None:
        """Flush every `every` seconds until cancelled (then once more)."""
        try:
            while True:
                await asyncio.sleep(self._every)
                try:
                    await self.flush(ops)
                except Exception:
                    log.warning("could not record rate-limit refusals", exc_info=True)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.flush(ops))
