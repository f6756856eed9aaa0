"""The OpenAPI document says every status a route can answer, and in which shape.

Litestar documents the success response and what handlers declare; the statuses that
come from the app's own layers are added here, for every operation alike: 401/403
from the token middleware and guards, 404 for a path naming something, 415/422 from
the strict body decoder, 422 from parameter validation, 503 when the database is
away or the log contended. Every error is `application/problem+json` with the
`Problem` schema, including Litestar's own 400. `/health` and `/ready` are public.
"""

from __future__ import annotations

from typing import Final

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi.spec import OpenAPI, OpenAPIMediaType, OpenAPIResponse, Operation, Reference

from interfaces.http.problems import MEDIA_TYPE

PUBLIC: Final = ("/health", "/ready")
METHODS: Final = ("get", "put", "post", "delete", "patch")
STANDARD: Final = {
    "400": "The request could not be read.",
    "401": "Missing, unknown or revoked token.",
    "403": "The token lacks the scope this needs.",
    "404": "What the path names does not exist.",
    "415": "The body is not `application/json`.",
    "422": "Invalid input; `field` names where.",
    "429": "Too many failed authentications from this address; retry after `Retry-After`.",
    "503": "The database is unavailable or the log contended; retry after `Retry-After`.",
}


def _problem(description: str) -> OpenAPIResponse:
    schema = Reference(ref="#/components/schemas/Problem")
    return OpenAPIResponse(
        description=description, content={MEDIA_TYPE: OpenAPIMediaType(schema=schema)}
    )


def _statuses(path: str, operation: Operation) -> list[str]:
    if path == "/health":
        return []
    statuses = ["503"]
    if path not in PUBLIC:
        statuses += ["401", "403", "429"]
    parameters = operation.parameters or []
    if parameters or operation.request_body is not None:
        statuses += ["400", "422"]
    if "{" in path:
        statuses.append("404")
    if operation.request_body is not None:
        statuses.append("415")
    return statuses


def complete(openapi: OpenAPI) -> OpenAPI:
    """Add the statuses every operation shares, as problem documents; mark public ones."""
    for path, item in (openapi.paths or {}).items():
        for method in METHODS:
            operation: Operation | None = getattr(item, method)
            if operation is None:
                continue
            responses = operation.responses or {}
            for status in _statuses(path, operation):
                if status not in responses or status == "400":
                    responses[status] = _problem(STANDARD[status])
            for status, response in responses.items():
                ours = path == "/ready" and status == "503"  # a Readiness, not a problem
                if (
                    status[0] in "45"
                    and not ours
                    and isinstance(response, OpenAPIResponse)
                    and (response.content is None or MEDIA_TYPE not in response.content)
                ):
                    responses[status] = _problem(response.description or STANDARD[status])
            operation.responses = dict(sorted(responses.items()))
            if path in PUBLIC:
                operation.security = []
    return openapi


def document_every_status(app: Litestar) -> None:
    """Build `app`'s OpenAPI document now, through `complete` (Litestar has no hook for
    changing the document it builds, but serves the one its plugin holds)."""
    plugin = app.plugins.get(OpenAPIPlugin)
    plugin._openapi = complete(plugin.provide_openapi())
