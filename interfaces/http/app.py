"""The Litestar application: HTTP and, later, WebSocket/SSE entry points.

`create_app` takes the Settings; the Runtime (engines, pool, store, NATS) is opened in
the lifespan so that each worker process owns its connections.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin

from infrastructure.settings import Settings, load_settings
from interfaces.composition import open_runtime
from interfaces.http.health import HealthController

API_VERSION = "0.1.0"


def create_app(settings: Settings) -> Litestar:
    @asynccontextmanager
    async def runtime_lifespan(app: Litestar) -> AsyncIterator[None]:
        runtime = await open_runtime(settings)
        app.state.runtime = runtime
        try:
            yield
        finally:
            await runtime.close()

    return Litestar(
        route_handlers=[HealthController],
        lifespan=[runtime_lifespan],
        plugins=[ProblemDetailsPlugin(ProblemDetailsConfig(enable_for_all_http_exceptions=True))],
        openapi_config=OpenAPIConfig(
            title="Core Vibe HQ",
            version=API_VERSION,
            description=(
                "AI factories submit patch operations against workspaces; every outcome is "
                "recorded as an immutable event. Errors are RFC 9457 problem+json."
            ),
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
    )


def create_app_from_env() -> Litestar:
    """Factory for ASGI servers (`uvicorn --factory interfaces.http.app:create_app_from_env`)."""
    return create_app(load_settings())
