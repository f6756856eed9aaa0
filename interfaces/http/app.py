"""The Litestar application: HTTP, WebSocket and SSE entry points.

`create_app` takes the Settings and, optionally, where its `Services` come from. By
default the lifespan opens the Runtime (engines, pool, store, NATS) so that each worker
process owns its connections; a test passes services built on in-memory fakes
(`interfaces.composition.bootstrap`). Handlers receive services by injection
(`interfaces/http/dependencies.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from infrastructure.pool import UNAVAILABLE
from infrastructure.settings import Settings, load_settings
from interfaces.composition import Services, open_runtime
from interfaces.gc_pauses import freeze_startup_objects
from interfaces.http.auth import PUBLIC_PATHS, BearerTokenMiddleware, FailedAuthLimit, TokenCache
from interfaces.http.body import strict_json_body
from interfaces.http.breaches import BreachLog
from interfaces.http.dependencies import dependencies, services_of
from interfaces.http.docs_page import SwaggerPage
from interfaces.http.env_profiles import EnvProfileController
from interfaces.http.grants import GrantController, TaskGrantController
from interfaces.http.health import HealthController
from interfaces.http.limit_policies import LimitController
from interfaces.http.limits import DenyCache, limit_headers
from interfaces.http.metrics import MetricsController, count_requests
from interfaces.http.openapi import document_every_status
from interfaces.http.ops import OpsController
from interfaces.http.outage import unavailable
from interfaces.http.problems import EXCEPTION_HANDLERS
from interfaces.http.secrets import SecretController
from interfaces.http.streams import STREAM_HANDLERS
from interfaces.http.tasks import DeliveryReportController, TaskController
from interfaces.http.terminal import TerminalController
from interfaces.http.tracing import server_spans
from interfaces.http.workspaces import PatchController, WorkspaceController
from interfaces.http.ws_close import ExplainedRefusals

API_VERSION = "0.1.0"


#: Where an app's services come from: entered in its lifespan, exited at shutdown.
ServicesSource = Callable[[Settings], AbstractAsyncContextManager[Services]]


@asynccontextmanager
async def runtime_services(settings: Settings) -> AsyncIterator[Services]:
    """Production: the Runtime on PostgreSQL and NATS, with the followers if configured."""
    runtime = await open_runtime(settings)
    if settings.background == "on":
        runtime.start_background()
    try:
        yield runtime.services
    finally:
        await runtime.close()


def cors(settings: Settings) -> CORSConfig | None:
    """Which other origins' pages may call the API (none unless VIBEHQ_CORS_ORIGINS says).

    Tokens travel in the Authorization header (or `?token=` on feeds), never in cookies,
    so no credentials mode; the headers a client reads back are exposed.
    """
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=settings.cors_origins.split(","),
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"],
        expose_headers=["Location", "Retry-After", "Idempotent-Replayed", "Vibehq-Caught-Up"],
        max_age=600,
    )


def create_app(settings: Settings, services: ServicesSource = runtime_services) -> Litestar:
    @asynccontextmanager
    async def services_lifespan(app: Litestar) -> AsyncIterator[None]:
        async with services(settings) as opened:
            app.state.services = opened
            app.state.auth_enabled = settings.auth == "on"
            app.state.token_cache = TokenCache()
            app.state.failed_auth = FailedAuthLimit()
            app.state.deny_cache = DenyCache()
            app.state.breaches = BreachLog()
            flushing = asyncio.create_task(app.state.breaches.run(opened.ops))
            freeze_startup_objects()
            try:
                yield
            finally:
                flushing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await flushing

    app = ExplainedRefusals(
        route_handlers=[
            HealthController,
            WorkspaceController,
            GrantController,
            TaskGrantController,
            PatchController,
            TaskController,
            DeliveryReportController,
            OpsController,
            MetricsController,
            TerminalController,
            SecretController,
            EnvProfileController,
            LimitController,
            *STREAM_HANDLERS,
        ],
        lifespan=[services_lifespan],
        before_request=strict_json_body,
        dependencies=dependencies(lambda: services_of(app.state)),
        middleware=[
            *server_spans(settings),
            count_requests,
            limit_headers,
            DefineMiddleware(BearerTokenMiddleware, exclude=PUBLIC_PATHS),
        ],
        exception_handlers={**EXCEPTION_HANDLERS, **dict.fromkeys(UNAVAILABLE, unavailable)},
        cors_config=cors(settings),
        logging_config=None,  # the process (CLI, uvicorn) owns logging configuration
        request_max_body_size=settings.max_patch_bytes * 2 + 1024 * 1024,
        openapi_config=OpenAPIConfig(
            title="Core Vibe HQ",
            version=API_VERSION,
            description=(
                "AI factories submit patch operations against workspaces; every outcome is "
                "recorded as an immutable event. Errors are RFC 9457 problem+json.\n\n"
                "Read models (delivery reports, ops views) trail the log by moments: pass a "
                "write's `position` as `after_position` to read your own write.\n\n"
                "Live feeds (not listed below, as OpenAPI has no WebSockets): "
                "`/ws/workspaces/{id}`, `/ws/ops`, `/ws/terminal/{session}` and the SSE "
                "feeds `/sse/workspaces/{id}`, `/sse/ops`. Authenticate with the bearer "
                "header or `?token=`; resume with `?after=<seq>` (SSE: `Last-Event-ID`)."
            ),
            path="/schema",
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="An API token from `vibehq tokens create`.",
                    )
                }
            ),
            security=[{"BearerToken": []}],
            render_plugins=[SwaggerPage()],
        ),
    )
    document_every_status(app)
    return app


def create_app_from_env() -> Litestar:
    """Factory for ASGI servers (`uvicorn --factory interfaces.http.app:create_app_from_env`)."""
    return create_app(load_settings())
