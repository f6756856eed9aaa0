"""Liveness and readiness: what a load balancer and an operator ask first."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from domain.contracts import HealthCheck, Liveness, Readiness
from interfaces.http.dependencies import services_of


class HealthController(Controller):
    tags = ["health"]

    @get("/health", summary="Liveness: the process answers", cache=False)
    async def health(self) -> Liveness:
        return Liveness()

    @get(
        "/ready",
        summary="Readiness: PostgreSQL reachable, migrations current, followers running",
        description=(
            "200 `ready` when every check passes; 200 `degraded` when only an optional one "
            "fails (NATS away: writes work, live feeds wait); 503 `not_ready` with the "
            "failing checks otherwise."
        ),
        responses={
            503: ResponseSpec(Readiness, description="A dependency is not ready; see checks")
        },
        cache=False,
    )
    async def ready(self, state: State) -> Response[Readiness]:
        readiness = readiness_of(await services_of(state).readiness())
        up = readiness.status != "not_ready"
        return Response(readiness, status_code=HTTP_200_OK if up else HTTP_503_SERVICE_UNAVAILABLE)


def readiness_of(checks: list[HealthCheck]) -> Readiness:
    """`not_ready` if a required check fails, `degraded` if only optional ones do."""
    if any(not check.ok and check.required for check in checks):
        return Readiness("not_ready", checks)
    return Readiness("ready" if all(check.ok for check in checks) else "degraded", checks)
