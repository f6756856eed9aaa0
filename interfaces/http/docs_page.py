"""`/schema`: the API's interactive documentation, from assets served here.

Swagger UI (vendored and pinned in `interfaces/http/assets/swagger-ui`, see its
README) reads `/schema/openapi.json`. Nothing is loaded from another origin, so the
page works offline, and every `/schema` answer carries a Content-Security-Policy that
allows scripts from this origin only (no inline script: the page starts Swagger UI
from `/schema/assets/init.js`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from litestar import Request, Router
from litestar.datastructures import ResponseHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.static_files import create_static_files_router

ASSETS: Final = Path(__file__).parent / "assets"
#: Swagger UI sets styles inline, and draws icons as data: URLs.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

PAGE: Final = b"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Core Vibe HQ API</title>
  <link rel="stylesheet" href="/schema/assets/swagger-ui/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/schema/assets/swagger-ui/swagger-ui-bundle.js"></script>
  <script src="/schema/assets/init.js"></script>
</body>
</html>
"""


class SwaggerPage(OpenAPIRenderPlugin):
    """The documentation page, and the assets and headers it needs."""

    def __init__(self) -> None:
        super().__init__(path=["/", "/swagger"])

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return PAGE

    def receive_router(self, router: Router) -> None:
        router.register(create_static_files_router("/assets", directories=[ASSETS]))
        router.response_headers = [
            *(router.response_headers or []),
            ResponseHeader(name="Content-Security-Policy", value=CONTENT_SECURITY_POLICY),
            ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
        ]
