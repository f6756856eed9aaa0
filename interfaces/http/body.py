"""Request bodies: JSON only, decoded strictly before a handler sees them.

Litestar converts a body leniently (`"1"` would become the integer 1). Every body
here is first decoded as its contract type with msgspec's strict JSON rules, so a
string where a number belongs is a 422 naming the field, and a body that is not
declared `application/json` is a 415 before it is read as one.
"""

from __future__ import annotations

from typing import Any, Final

from litestar import Request
from litestar.exceptions import HTTPException

from domain.decoding import decode_json

DATA: Final = "data"


class UnsupportedMediaType(HTTPException):
    status_code = 415


def is_json(content_type: str) -> bool:
    return content_type.partition(";")[0].strip().lower() == "application/json"


async def strict_json_body(request: Request[Any, Any, Any]) -> None:
    """`before_request` hook: refuse non-JSON bodies (415) and loose JSON (422)."""
    field = request.route_handler.parsed_fn_signature.parameters.get(DATA)
    if field is None:
        return
    body = await request.body()
    if not body and field.has_default:
        return  # an optional body left out
    content_type = request.headers.get("content-type", "")
    if not is_json(content_type):
        sent = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
        raise UnsupportedMediaType(
            detail=f"send the body as JSON with Content-Type: application/json ({sent} given)"
        )
    decode_json(body, field.annotation)
