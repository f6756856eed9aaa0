"""`/metrics` for Prometheus, and the middleware that counts every HTTP request.

Requests are counted by method, route template and status, and timed by method and
route template (an SSE stream is counted, not timed: it lasts as long as its client).
The scrape adds the log's state from the database (follower lag, open incidents);
while the database is down the page still answers, with `vibehq_database_reachable 0`.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

from litestar import Controller, Request, Response, get
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from infrastructure.metrics import CONTENT_TYPE, LogState, exposition, metrics
from interfaces.http.auth import requires
from interfaces.http.dependencies import services_of
from interfaces.http.problems import spec

log = logging.getLogger(__name__)

#: Routes whose responses last as long as their client: counted, never timed.
_STREAMING: Final = "/sse/"


def count_requests(app: ASGIApp) -> ASGIApp:
    """Litestar middleware: count and time each HTTP request (WebSockets are feeds)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, sending)
        finally:
            counted = metrics()
            method = str(scope.get("method", ""))
            route = scope.get("path_template") or "unmatched"
            counted.http_requests.labels(method, route, str(status)).inc()
            if not route.startswith(_STREAMING):
                counted.http_duration.labels(method, route).observe(time.perf_counter() - started)
            counted.sample_pool()

    return middleware


class MetricsController(Controller):
    path = "/metrics"
    tags = ["operations"]

    @get(
        "/",
        guards=[requires("read")],
        summary="Prometheus metrics: requests, appends, followers, feeds, incidents, pool",
        description="Prometheus text format. Every process's counters are included, "
        "whichever worker answers. The metric list: docs/observability.md.",
        media_type=CONTENT_TYPE,
        responses={401: spec("Missing or unknown token.")},
    )
    async def scrape(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        read_state = services_of(request.app.state).log_state
        state: LogState | None = None
        if read_state is not None:
            try:
                state = await read_state()
            except Exception as error:  # noqa: BLE001 - the page still answers without it
                log.debug("metrics: the log's state is unavailable: %s", error)
                state = LogState(reachable=False)
        metrics().sample_pool(now=True)
        return Response(exposition(state), media_type=CONTENT_TYPE)
