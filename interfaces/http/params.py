"""Request bits shared by the controllers: time-travel parameters, the command context,
and idempotency (the `Idempotency-Key` header in, `Idempotent-Replayed` out)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, TypeVar
from uuid import UUID, uuid4

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.params import HeaderParameter

from application.access import Principal
from application.aggregates import CommandContext
from application.workspace_queries import At
from domain.contracts import MAX_COUNTER
from domain.decoding import ContractViolation
from infrastructure.telemetry import current_trace_context

T = TypeVar("T")

IDEMPOTENCY_HEADER: Final = HeaderParameter(
    name="Idempotency-Key",
    required=False,
    description=(
        "Retrying with the same key and body records nothing new and answers the first "
        "outcome with the first status, marked `Idempotent-Replayed: true`. Keys are "
        "scoped to the command, its target and the caller; 1 to 200 characters."
    ),
)
REPLAYED_HEADER: Final = "Idempotent-Replayed"

AT_DESCRIPTION = (
    "Time travel: a workspace version (e.g. `3`) or an ISO 8601 moment "
    "(e.g. `2026-11-25T10:00:00Z`). Default: the current version."
)


def counter(value: str) -> bool:
    """Whether `value` is a version, position or sequence number we can store: ASCII
    digits only (`str.isdigit` also takes `²` and `①`), at most `MAX_COUNTER`."""
    return value.isascii() and value.isdigit() and int(value) <= MAX_COUNTER


def parse_at(value: str | None, name: str = "at") -> At:
    if value is None or value == "":
        return None
    if counter(value):
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ContractViolation(
            name, f"{value!r} is neither a version number nor an ISO 8601 moment"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def command_context(
    request: ASGIConnection[Any, Any, Any, Any], idempotency_key: str | None
) -> CommandContext:
    principal: Principal = request.user
    return CommandContext(
        actor=principal.actor,
        correlation_id=_correlation_id(request),
        idempotency_key=idempotency_key,
        trace_context=current_trace_context(),
        token_id=principal.token_id,
        admin=principal.may("admin"),
    )


def _correlation_id(request: ASGIConnection[Any, Any, Any, Any]) -> UUID:
    given = request.headers.get("x-correlation-id")
    try:
        return UUID(given) if given else uuid4()
    except ValueError:
        raise ContractViolation("X-Correlation-Id", f"{given!r} is not a UUID") from None


def idempotency_key(request: Request[Any, Any, Any], in_body: str | None = None) -> str | None:
    header = request.headers.get("idempotency-key")
    if header is not None and not 1 <= len(header) <= 200:
        raise ContractViolation("Idempotency-Key", "must be 1 to 200 characters")
    if header and in_body and header != in_body:
        raise ContractViolation(
            "Idempotency-Key", "the header and the body's idempotency_key differ"
        )
    return header or in_body


def recorded_answer(body: T, *, duplicate: bool, status_code: int = 201) -> Response[T]:
    """A recording POST's answer; a replay gets the first status again, marked as one."""
    return Response(
        body, status_code=status_code, headers={REPLAYED_HEADER: "true"} if duplicate else {}
    )
