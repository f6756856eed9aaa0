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
import functools
import math
import time
from collections.abc import Callable
from typing import Any, Final

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import TooManyRequestsException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Guard, Message, Receive, Scope, Send
from prometheus_client import Counter

from domain.contracts import LimitGroup
from domain.limits import LimitCheck, LimitDecision, Policy
from infrastructure.metrics import metrics
from interfaces.http.breaches import BreachLog
from interfaces.http.dependencies import services_of

_STATE: Final = "vibehq_limits"


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


def limited(*groups: LimitGroup) -> Guard:
    """A guard: admit the request under every policy of `groups`, or answer 429."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        limits = services_of(connection.app.state).limits
        if limits is None or not limits.specs(groups):
            return
        actor = connection.user.actor
        token = connection.user.token_id
        token_text = None if token is None else str(token)
        cache: DenyCache = connection.app.state.deny_cache
        # A new policy version starts afresh: refusals under the old one are not repeated.
        cache_key = (actor, str(token_text), str(limits.version), *groups)
        cached = cache.refused(cache_key)
        if cached is not None:
            decision, headers = cached
        else:
            admission = await limits.admit(groups, actor, token=token_text)
            decision = admission.decision
            headers = _headers(admission.checks, decision)
            for name in admission.shadow_refusals:
                _counted(name, "shadow_denied").inc()
                breaches(connection).seen(name, actor, shadow=True)
            if decision.allowed:
                for check in admission.checks:
                    _counted(check.policy.name, "allowed").inc()
            else:
                cache.remember(cache_key, decision, headers)
        if not decision.allowed:
            assert decision.denied_by is not None
            name = decision.denied_by.name
            _counted(name, "denied").inc()
            breaches(connection).seen(name, actor)
            wait = max(1, math.ceil(decision.retry_after))
            raise TooManyRequestsException(
                detail=f"{actor} is over the '{name}' limit; retry in {wait}s",
                headers={**headers, "Retry-After": str(wait)},
            )
        if headers.get("RateLimit-Policy"):
            connection.state[_STATE] = headers

    return guard


def breaches(connection: ASGIConnection[Any, Any, Any, Any]) -> BreachLog:
    log: BreachLog = connection.app.state.breaches
    return log


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


def _headers(checks: tuple[LimitCheck, ...], decision: LimitDecision) -> dict[str, str]:
    if not checks:
        return {}
    return {
        "RateLimit-Policy": _policy_header(tuple(c.policy for c in checks)),
        "RateLimit": ", ".join(
            f'"{c.policy.name}";r={math.floor(r):d};t={math.ceil(t):d}'
            for c, r, t in zip(checks, decision.remaining, decision.reset_after, strict=True)
        ),
    }


@functools.lru_cache(maxsize=1024)
def _policy_header(policies: tuple[Policy, ...]) -> str:
    """`RateLimit-Policy` for these policies, formatted once."""
    return ", ".join(policy.header() for policy in policies)


_COUNTERS: dict[tuple[str, str], Counter] = {}


def _counted(policy: str, outcome: str) -> Counter:
    """`vibehq_rate_limit_decisions_total{policy, outcome}`, its child looked up once."""
    child = _COUNTERS.get((policy, outcome))
    if child is None:
        child = _COUNTERS[policy, outcome] = metrics().limit_decisions.labels(policy, outcome)
    return child
