"""What the client raises: the service's problem+json answers, as exceptions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import httpx
import msgspec

T = TypeVar("T")


class ApiError(Exception):
    """The service said no; `problem` is its problem+json body."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        super().__init__(f"{status} {problem.get('title', '')}: {problem.get('detail', '')}")
        self.status = status
        self.problem = dict(problem)
        self.field: str | None = problem.get("field")


class PatchRejected(ApiError):
    """The patch was refused and the refusal recorded (409 conflict, 422 invalid);
    `reason` is the rejection code, e.g. `stale_base` or `edit_no_match`."""

    @property
    def reason(self) -> str:
        return str(self.problem.get("reason", ""))


def answer(response: httpx.Response, kind: type[T]) -> T:
    if response.status_code < 400:
        return msgspec.json.decode(response.content, type=kind)
    problem: dict[str, Any] = (
        response.json()
        if response.headers.get("content-type", "").startswith("application/problem+json")
        else {"title": response.reason_phrase, "detail": response.text}
    )
    if "reason" in problem and response.status_code in (409, 422):
        raise PatchRejected(response.status_code, problem)
    raise ApiError(response.status_code, problem)
