"""RFC 9457 problem details: every error the API returns, in one shape.

`field` names the request field at fault (a dotted path such as
`operations[2].path`, a query parameter, or a header), so a client can point at it.
Patch rejections add the rejected patch's id, the operation, the path and conflicts.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap

from domain.contracts import PatchRecord, Problem
from domain.errors import Busy, Forbidden, Invalid, NotFound, Refused
from domain.patching.rejection import INVALID_REQUEST_CODES, PatchRejection
from infrastructure.secrets.redaction import REDACTOR

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://core-vibe-hq.dev/problems/"


def problem(
    request: Request[Any, Any, Any] | None,
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[Problem]:
    body = Problem(
        type=TYPE_BASE + slug,
        title=title,
        status=status,
        # An error may quote input, and input may hold a secret this process knows.
        detail=REDACTOR.redact(detail),
        instance=str(request.url.path) if request is not None else None,
        **extra,
    )
    return Response(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def rejection_status(code: str) -> int:
    return 422 if code in INVALID_REQUEST_CODES else 409


def rejected_patch(request: Request[Any, Any, Any], record: PatchRecord) -> Response[Problem]:
    """A recorded rejection: 409 for conflicts with the workspace, 422 for bad input."""
    reason = record.reason or "rejected"
    field = f"operations[{record.operation}]" if record.operation is not None else None
    return problem(
        request,
        rejection_status(reason),
        reason.replace("_", "-"),
        "Patch rejected",
        record.detail or reason,
        reason=reason,
        operation=record.operation,
        path=record.path,
        field=field,
        patch_id=str(record.patch_id),
        version=record.version,
        conflicts=record.conflicts,
    )


def spec(description: str) -> ResponseSpec:
    """An OpenAPI response entry for a problem document."""
    return ResponseSpec(data_container=Problem, description=description, media_type=MEDIA_TYPE)


# -- exception handlers ----------------------------------------------------------------------


def _validation(request: Request[Any, Any, Any], error: ValidationException) -> Response[Problem]:
    errors = [
        {"field": str(item.get("key", "")), "reason": str(item.get("message", ""))}
        for item in (error.extra if isinstance(error.extra, list) else [])
        if isinstance(item, dict)
    ]
    first = errors[0] if errors else {"field": "", "reason": str(error.detail)}
    return problem(
        request,
        422,
        "invalid-request",
        "Invalid request",
        f"{first['field']}: {first['reason']}" if first["field"] else first["reason"],
        field=first["field"] or None,
        errors=errors,
    )


def _invalid(request: Request[Any, Any, Any], error: Invalid) -> Response[Problem]:
    return problem(
        request,
        422,
        "invalid-request",
        "Invalid request",
        str(error),
        field=error.field or None,
        reason=error.code,
    )


def _not_found(request: Request[Any, Any, Any], error: NotFound) -> Response[Problem]:
    return problem(
        request, 404, "not-found", "Not found", str(error.args[0] if error.args else error)
    )


def _refused(request: Request[Any, Any, Any], error: Refused) -> Response[Problem]:
    return problem(request, 409, "conflict", "Conflict", str(error))


def _rejection(request: Request[Any, Any, Any], error: PatchRejection) -> Response[Problem]:
    field = f"files[{error.operation}]" if error.operation is not None else None
    return problem(
        request,
        rejection_status(error.code),
        error.code.replace("_", "-"),
        "Files rejected",
        error.message,
        reason=error.code,
        field=field,
        path=error.path,
    )


def _forbidden_by_us(request: Request[Any, Any, Any], error: Forbidden) -> Response[Problem]:
    field = getattr(error, "field", None)
    return problem(request, 403, "forbidden", "Forbidden", str(error), field=field)


def _busy(request: Request[Any, Any, Any], error: Busy) -> Response[Problem]:
    return problem(
        request,
        503,
        "contention",
        "Try again",
        str(error),
        headers={"Retry-After": str(error.retry_after)},
    )


def _unauthorized(
    request: Request[Any, Any, Any], error: NotAuthorizedException
) -> Response[Problem]:
    return problem(
        request,
        401,
        "unauthorized",
        "Unauthorized",
        str(error.detail),
        headers={"WWW-Authenticate": 'Bearer realm="vibehq"'},
        field="Authorization",
    )


def _forbidden(
    request: Request[Any, Any, Any], error: PermissionDeniedException
) -> Response[Problem]:
    return problem(request, 403, "forbidden", "Forbidden", str(error.detail))


def _http(request: Request[Any, Any, Any], error: HTTPException) -> Response[Problem]:
    title = {
        400: "Bad request",
        404: "Not found",
        405: "Method not allowed",
        413: "Too large",
        415: "Unsupported media type",
        429: "Too many requests",
    }
    return problem(
        request,
        error.status_code,
        f"http-{error.status_code}",
        title.get(error.status_code, "Error"),
        str(error.detail),
        headers=dict(error.headers or {}),
        field="Content-Type" if error.status_code == 415 else None,
    )


def _too_deep(request: Request[Any, Any, Any], error: RecursionError) -> Response[Problem]:
    """JSON nested deeper than the body decoder recurses is the client's input; any other
    RecursionError is ours."""
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_name == "decode_json":
            return problem(
                request,
                422,
                "invalid-request",
                "Invalid request",
                "the JSON body is nested too deeply to read",
                field="body",
            )
        frame = frame.tb_next
    return _unexpected(request, error)


def _unexpected(request: Request[Any, Any, Any], error: Exception) -> Response[Problem]:
    log.error("unhandled error in %s %s", request.method, request.url.path, exc_info=error)
    return problem(
        request,
        500,
        "internal",
        "Internal error",
        "the server failed to handle this request; nothing was recorded unless an event "
        "says so. The server log has the details.",
    )


#: Every error an interface may see, by kind (domain/errors.py): a new error of a known
#: kind needs no entry here. Litestar's own come first; PatchRejection carries its status.
EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ValidationException: _validation,
    NotAuthorizedException: _unauthorized,
    PermissionDeniedException: _forbidden,
    HTTPException: _http,
    PatchRejection: _rejection,
    Invalid: _invalid,
    NotFound: _not_found,
    Refused: _refused,
    Forbidden: _forbidden_by_us,
    Busy: _busy,
    RecursionError: _too_deep,
    Exception: _unexpected,
}
