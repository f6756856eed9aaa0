"""The OpenAPI document says every status a route can answer, and in which shape.

Litestar documents the success response and what handlers declare; the statuses that
come from the app's own layers are added here, for every operation alike: 401/403
from the token middleware and guards, 404 for a path naming something, 415/422 from
the strict body decoder, 422 from parameter validation, 503 when the database is
away or the log contended. Every error is `application/problem+json` with the
`Problem` schema, including Litestar's own 400. `/health` and `/ready` are public.

So that generated clients work as written: a tagged union (the patch operations) says
which tag value means which schema (`discriminator` with a `mapping`), a tag property
has its one value as default (a generated `WriteFile(path=..., content=...)` needs no
`op`), and the main request bodies carry examples.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi.spec import (
    Discriminator,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Reference,
    Schema,
)

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
    schemas = openapi.components.schemas if openapi.components else None
    if schemas:
        _describe_tags(schemas)
        for name, example in EXAMPLES.items():
            if isinstance(schemas.get(name), Schema):
                schemas[name].examples = [example]
    return openapi


#: Tag properties of tagged unions (msgspec's `tag_field`s).
TAGS: Final = ("op", "kind")

EXAMPLES: Final[dict[str, object]] = {
    "NewWorkspace": {"name": "shop", "files": [{"path": "app.py", "content": "x = 1\n"}]},
    "PatchRequest": {
        "base_version": 2,
        "task_id": "T-1",
        "operations": [
            {
                "op": "edit_file",
                "path": "app.py",
                "edits": [{"search": "x = 1", "replace": "x = 2"}],
            },
            {"op": "create_file", "path": "README.md", "content": "# Shop\n"},
        ],
        "message": "x is 2",
    },
    "ChecksRequest": {
        "checks": [{"name": "unit", "status": "passed", "duration_ms": 5400, "summary": "41"}]
    },
    "DeliveryRequest": {
        "summary": "x is 2 now",
        "workspace_id": "3f2c1a9e-8d4b-4c6e-9a1f-2b7d5e8c0a11",
        "final_version": 3,
        "artefacts": ["README.md"],
    },
}


def _tag_of(schema: Schema) -> tuple[str, str] | None:
    """(tag property, its value) of a tagged union's member schema."""
    for name in TAGS:
        prop = (schema.properties or {}).get(name)
        if isinstance(prop, Schema) and isinstance(prop.const, str):
            return name, prop.const
    return None


def _describe_tags(schemas: Mapping[str, Schema | Reference]) -> None:
    for schema in schemas.values():
        if isinstance(schema, Schema) and (tag := _tag_of(schema)) is not None:
            prop = (schema.properties or {})[tag[0]]
            assert isinstance(prop, Schema)
            prop.default = tag[1]
    for schema in schemas.values():
        _map_unions(schema, schemas)


def _map_unions(node: object, schemas: Mapping[str, Schema | Reference]) -> None:
    """Give every `oneOf` of tagged schemas a discriminator mapping, wherever it is."""
    if not isinstance(node, Schema):
        return
    if node.one_of and all(isinstance(m, Reference) for m in node.one_of):
        tags: dict[str, str] = {}
        names: set[str] = set()
        for member in node.one_of:
            assert isinstance(member, Reference)
            target = schemas.get(member.ref.rsplit("/", 1)[-1])
            tag = _tag_of(target) if isinstance(target, Schema) else None
            if tag is None:
                break
            names.add(tag[0])
            tags[tag[1]] = member.ref
        else:
            if len(names) == 1:
                node.discriminator = Discriminator(property_name=names.pop(), mapping=tags)
    for child in (
        *(node.properties or {}).values(),
        node.items,
        *(node.one_of or []),
        *(node.any_of or []),
        *(node.all_of or []),
    ):
        _map_unions(child, schemas)


def document_every_status(app: Litestar) -> None:
    """Build `app`'s OpenAPI document now, through `complete` (Litestar has no hook for
    changing the document it builds, but serves the one its plugin holds)."""
    plugin = app.plugins.get(OpenAPIPlugin)
    plugin._openapi = complete(plugin.provide_openapi())
