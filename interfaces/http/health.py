"""Liveness and readiness: what a load balancer and an operator ask first."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from domain.contracts import Liveness, Readiness
from interfaces.http.dependencies import services_of


class HealthController(Controller):
    tags = ["health"]

    @get("/health", summary="Liveness: the process answers", cache=False)
    async def health(self) -> Liveness:
        return Liveness()

    @get(
        "/ready",
        summary="Readiness: PostgreSQL and NATS reachable, migrations current",
        description="200 when every check passes, 503 with the failing checks otherwise.",
        responses={
            503: ResponseSpec(Readiness, description="A dependency is not ready; see checks")
        },
        cache=False,
    )
    async def ready(self, state: State) -> Response[Readiness]:
        checks = await services_of(state).readiness()
        ready = all(check.ok for check in checks)
        return Response(
            Readiness("ready" if ready else "not_ready", checks),
            status_code=HTTP_200_OK if ready else HTTP_503_SERVICE_UNAVAILABLE,
        )
