"""Bearer-token authentication and scope guards.

Lookups are cached per process for `CACHE_SECONDS`, so a busy factory does not cost
a database round trip per request; revoking a token therefore takes effect within
that many seconds. Unknown tokens are cached too, and a client address that keeps
failing is answered 429 without a lookup (`FailedAuthLimit`). With auth off
(`VIBEHQ_AUTH=off`, for local demos) every caller is the admin actor `local`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    TooManyRequestsException,
    WebSocketException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import Guard

from application.access import Principal, Scope, TokenService
from application.limits import LimitService
from infrastructure.limits import AUTH_FAILURES
from infrastructure.logs import ACTOR
from interfaces.http.dependencies import services_of
from interfaces.http.ws_close import FORBIDDEN, TOKEN_INVALID

CACHE_SECONDS: Final = 5.0
LOCAL: Final = Principal(actor="local", kind="user", scopes=frozenset({"admin"}))
PUBLIC_PATHS: Final = ["^/health", "^/ready", "^/schema", "^/swagger", "^/favicon"]


class TokenCache:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Principal | None]] = {}

    async def principal(self, secret: str, tokens: TokenService) -> Principal | None:
        now = time.monotonic()
        hit = self._entries.get(secret)
        if hit is not None and hit[0] > now:
            return hit[1]
        principal = await tokens.authenticate(secret)
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[secret] = (now + CACHE_SECONDS, principal)
        return principal


#: Failed authentications one client address may make: a burst, then one per interval
#: (the `auth-failures` limit group; decided in PostgreSQL where there is a limiter,
#: else per process).
FAILURES_BURST: Final = int(AUTH_FAILURES.burst)
FAILURE_INTERVAL: Final = AUTH_FAILURES.interval


class FailedAuthLimit:
    """Slows down token guessing: once an address has failed more than the burst allows,
    it is answered 429 (with Retry-After) without a lookup, until its debt is paid."""

    def __init__(self, burst: int = FAILURES_BURST, interval: float = FAILURE_INTERVAL) -> None:
        self._interval = interval
        self._tolerance = (burst - 1) * interval
        self._tat: dict[str, float] = {}

    def retry_after(self, address: str) -> float:
        """Seconds until `address` may try again (0: now)."""
        tat = self._tat.get(address)
        return 0.0 if tat is None else max(0.0, tat - time.monotonic() - self._tolerance)

    async def failed(self, address: str, limits: LimitService | None) -> None:
        """Count a failure. With a limiter, the `auth-failures` policy decides across
        every process; once it refuses, this process answers 429 itself until the
        refusal's Retry-After is due."""
        if limits is not None and limits.deciding and limits.specs(["auth-failures"]):
            admission = await limits.admit(["auth-failures"], address)
            if not admission.decision.allowed:
                wait = admission.decision.retry_after
                self._tat[address] = time.monotonic() + wait + self._tolerance
            return
        now = time.monotonic()
        if len(self._tat) > 100_000:  # forget addresses whose debt is paid
            self._tat = {a: t for a, t in self._tat.items() if t > now}
        self._tat[address] = max(self._tat.get(address, now), now) + self._interval


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        limit: FailedAuthLimit = connection.app.state.failed_auth
        address = connection.client.host if connection.client else "unknown"
        wait = limit.retry_after(address)
        if wait > 0:
            raise _refusal(
                connection,
                TooManyRequestsException(
                    detail=f"too many failed authentications from {address}; retry later",
                    headers={"Retry-After": str(math.ceil(wait))},
                ),
            )
        try:
            return await self._authenticate(connection)
        except NotAuthorizedException as refusal:
            await limit.failed(address, services_of(connection.app.state).limits)
            raise _refusal(connection, refusal) from None

    async def _authenticate(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        state = connection.app.state
        if not state.auth_enabled:
            return AuthenticationResult(user=LOCAL, auth=None)
        header = connection.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if not header and _may_use_query_token(connection):
            # Browsers cannot set headers on WebSocket or EventSource requests.
            scheme, secret = "bearer", connection.query_params.get("token", "")
        if not header and not secret:
            raise NotAuthorizedException(
                "missing Authorization header; send 'Bearer <token>'"
                + (" or ?token=<token>" if _may_use_query_token(connection) else "")
            )
        if scheme.lower() != "bearer" or not secret.strip():
            raise NotAuthorizedException("the Authorization header must be 'Bearer <token>'")
        tokens = services_of(state).tokens
        principal = await state.token_cache.principal(secret.strip(), tokens)
        if principal is None:
            raise NotAuthorizedException("the token is unknown or revoked")
        ACTOR.set(principal.actor)  # for this request's log lines (infrastructure/logs.py)
        return AuthenticationResult(user=principal, auth=secret)


def _refusal(
    connection: ASGIConnection[Any, Any, Any, Any], refusal: HTTPException
) -> HTTPException | WebSocketException:
    if connection.scope["type"] == ScopeType.WEBSOCKET:
        return WebSocketException(detail=refusal.detail, code=TOKEN_INVALID)
    return refusal


def _may_use_query_token(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Only feeds accept `?token=`: a token in a URL ends up in logs, so keep it rare."""
    return connection.scope["type"] == ScopeType.WEBSOCKET or connection.url.path.startswith(
        "/sse/"
    )


def still_allowed(
    connection: ASGIConnection[Any, Any, Any, Any],
) -> Callable[[], Awaitable[bool]] | None:
    """For a long-lived connection: a check that its token is still valid (None when
    auth is off). Answered from the token cache, so a revocation shows within
    `CACHE_SECONDS`."""
    secret = connection.auth
    if not isinstance(secret, str):
        return None
    state = connection.app.state

    async def check() -> bool:
        return await state.token_cache.principal(secret, services_of(state).tokens) is not None

    return check


def requires(scope: Scope) -> Guard:
    """A route guard: the caller's token must hold `scope` (or a wider one)."""

    # async: Litestar runs a sync guard in a thread pool, a hop on every request.
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal: Principal = connection.user
        if not principal.may(scope):
            detail = (
                f"this needs the '{scope}' scope; token of {principal.actor} has "
                f"{', '.join(sorted(principal.scopes)) or 'none'}"
            )
            if connection.scope["type"] == ScopeType.WEBSOCKET:
                raise WebSocketException(detail=detail, code=FORBIDDEN)
            raise PermissionDeniedException(detail)

    return guard
