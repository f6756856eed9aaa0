"""Rate limits on the write routes: per actor, decided in PostgreSQL (exact across
every process), answered with the IETF `RateLimit-Policy` / `RateLimit` headers.

`writes` (VIBEHQ_LIMIT_WRITES per minute per actor, GCRA with a minute's burst)
applies to every recording write; creating a workspace also counts against
`workspaces` (VIBEHQ_LIMIT_WORKSPACES per actor per UTC day). A refusal is 429
problem+json naming the policy, with `Retry-After`; nothing is consumed from the other
policy. The defaults are far above what one honest factory sends.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any, Final, Literal

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import TooManyRequestsException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Guard, Message, Receive, Scope, Send

from domain.limits import LimitCheck, LimitDecision, Policy, Quota, Rate
from infrastructure.metrics import metrics
from infrastructure.settings import Settings
from interfaces.http.dependencies import services_of

_STATE: Final = "vibehq_limits"
Group = Literal["writes", "workspaces"]


def policies(settings: Settings) -> dict[Group, Policy]:
    found: dict[Group, Policy] = {}
    if settings.limit_writes > 0:
        per_minute = float(settings.limit_writes)
        found["writes"] = Rate("writes", limit=per_minute, per=60, burst=per_minute)
    if settings.limit_workspaces > 0:
        found["workspaces"] = Quota("workspaces", limit=settings.limit_workspaces, window=86_400)
    return found


class DenyCache:
    """Per process: who was refused until when, so a repeat within that time is
    refused without a round trip. It only repeats what the database refused a moment
    ago, and never admits: the limit is never looser than configured."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._until: dict[tuple[str, ...], tuple[float, LimitDecision, dict[str, str]]] = {}
        self._clock = clock

    def refused(self, key: tuple[str, ...]) -> tuple[LimitDecision, dict[str, str]] | None:
        entry = self._until.get(key)
        if entry is None:
            return None
        until, decision, headers = entry
        left = until - self._clock()
        if left <= 0:
            del self._until[key]
            return None
        return dataclasses.replace(decision, retry_after=left), headers

    def remember(
        self, key: tuple[str, ...], decision: LimitDecision, headers: dict[str, str]
    ) -> None:
        if len(self._until) >= 100_000:  # bounded: forget the oldest half
            for stale in list(self._until)[: len(self._until) // 2]:
                del self._until[stale]
        self._until[key] = (self._clock() + decision.retry_after, decision, headers)


def limited(*groups: Group) -> Guard:
    """A guard: admit the request under every named policy, or answer 429."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        services = services_of(connection.app.state)
        limiter = services.limiter
        known = connection.app.state.limit_policies
        chosen = [known[g] for g in groups if g in known]
        if limiter is None or not chosen:
            return
        actor = connection.user.actor
        checks = [LimitCheck(policy, actor) for policy in chosen]
        cache: DenyCache = connection.app.state.deny_cache
        cache_key = (actor, *groups)
        cached = cache.refused(cache_key)
        if cached is not None:
            decision, headers = cached
        else:
            decision = await limiter.check(checks)
            headers = _headers(checks, decision)
            if not decision.allowed:
                cache.remember(cache_key, decision, headers)
        counted = metrics().limit_decisions
        if decision.allowed:
            for policy in chosen:
                counted.labels(policy.name, "allowed").inc()
        else:
            assert decision.denied_by is not None
            counted.labels(decision.denied_by.name, "denied").inc()
            wait = max(1, math.ceil(decision.retry_after))
            raise TooManyRequestsException(
                detail=f"{actor} is over the '{decision.denied_by.name}' limit; retry in {wait}s",
                headers={**headers, "Retry-After": str(wait)},
            )
        connection.state[_STATE] = headers

    return guard


def limit_headers(app: ASGIApp) -> ASGIApp:
    """Middleware: an admitted request's RateLimit headers on its answer."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            headers = scope.get("state", {}).get(_STATE)
            if message["type"] == "http.response.start" and headers:
                message["headers"] = [
                    *message.get("headers", []),
                    *((k.lower().encode(), v.encode()) for k, v in headers.items()),
                ]
            await send(message)

        await app(scope, receive, sending)

    return middleware


def _headers(checks: list[LimitCheck], decision: LimitDecision) -> dict[str, str]:
    return {
        "RateLimit-Policy": ", ".join(c.policy.header() for c in checks),
        "RateLimit": ", ".join(
            f'"{c.policy.name}";r={math.floor(r):d};t={math.ceil(t):d}'
            for c, r, t in zip(checks, decision.remaining, decision.reset_after, strict=True)
        ),
    }
