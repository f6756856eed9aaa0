"""HTTP server spans (OpenTelemetry's ASGI instrumentation, through Litestar's config),
only when `VIBEHQ_TRACING` is on.

A request's `traceparent` header is continued; the span is named by the route template
(`POST /workspaces/{workspace_id}/patches`), never by a path with ids; a `?token=` in
the URL is masked before the span leaves the process.
"""

from __future__ import annotations

from typing import Any

from litestar.plugins.opentelemetry import OpenTelemetryConfig
from litestar.types import ASGIApp, Middleware, Receive, Scope, Send
from opentelemetry import trace
from opentelemetry.trace import Span

from infrastructure.settings import Settings, mask_query_token

#: Attributes of the ASGI instrumentation that may hold the query string.
_URL_ATTRIBUTES = ("http.url", "url.full", "http.target", "url.query")


def _span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    """The span's name before routing (Litestar runs this middleware first): the method
    alone, as the conventions say when the route is not known; `_name_by_route` names
    it once routing found the template."""
    return str(scope.get("method", "")) or "WEBSOCKET", {}


def _name_by_route(app: ASGIApp) -> ASGIApp:
    """Middleware (after routing): name the server span by method and route template."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        route = scope.get("path_template")
        span = trace.get_current_span()
        if route and span.is_recording():
            method = str(scope.get("method", "")) or "WEBSOCKET"
            span.update_name(f"{method} {route}")
            span.set_attribute("http.route", route)
        await app(scope, receive, send)

    return middleware


def _mask_tokens(span: Span, scope: dict[str, Any]) -> None:
    """Replace URL attributes that carry a `?token=` with their masked form."""
    attributes: Any = getattr(span, "attributes", None) or {}
    for key in _URL_ATTRIBUTES:
        value = attributes.get(key)
        if isinstance(value, str) and "token=" in value:
            span.set_attribute(key, mask_query_token(value if "?" in value else f"?{value}"))


def server_spans(settings: Settings) -> list[Middleware]:
    """The middleware making server spans, or none when tracing is off."""
    if settings.tracing == "off":
        return []
    config = OpenTelemetryConfig(
        scope_span_details_extractor=_span_details,
        server_request_hook_handler=_mask_tokens,
        exclude_spans=["receive", "send"],
        exclude=["^/health", "^/ready", "^/metrics"],
    )
    return [config.middleware, _name_by_route]
