"""`/limits`: the rate limits and quotas in force, and (admins) changing them.

A change is recorded (`LimitPolicyBook.PolicySet`) and reaches every process within
moments: each reloads the book when the change's event goes past on NATS.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, put
from litestar.params import FromPath, JSONBody

from application.limits import LimitService
from domain.contracts import LimitGroup, LimitPolicies, LimitPolicySpec
from domain.errors import Busy
from interfaces.http.auth import requires
from interfaces.http.dependencies import services_of
from interfaces.http.params import command_context
from interfaces.http.problems import spec

AUTH = {401: spec("Missing or unknown token."), 403: spec("Not an admin token.")}


class LimitsUnavailable(Busy):
    """This server was built without a rate limiter."""


def _limits(request: Request[Any, Any, Any]) -> LimitService:
    limits = services_of(request.app.state).limits
    if limits is None:
        raise LimitsUnavailable("this server has no rate limiter")
    return limits


class LimitController(Controller):
    path = "/limits"
    tags = ["limits"]

    @get(
        "/",
        guards=[requires("read")],
        summary="Every limit in force: recorded policies, and the defaults of the rest",
        responses=AUTH,
    )
    async def show(self, request: Request[Any, Any, Any]) -> LimitPolicies:
        return await _limits(request).show()

    @put(
        "/{group:str}",
        guards=[requires("admin")],
        summary="Set a group's policy: a rate or a quota, overrides, shadow mode",
        description="Recorded as an event; every process applies it within moments. "
        "`shadow` decides and counts without refusing, to watch a limit before it bites.",
        responses={**AUTH, 422: spec("A bad policy, or an unknown group.")},
    )
    async def set_policy(
        self,
        request: Request[Any, Any, Any],
        group: FromPath[LimitGroup],
        data: JSONBody[LimitPolicySpec],
    ) -> LimitPolicies:
        return await _limits(request).set(group, data, command_context(request, None))

    @delete(
        "/{group:str}",
        guards=[requires("admin")],
        status_code=200,
        summary="Drop a group's recorded policy: back to its default, or to no limit",
        responses=AUTH,
    )
    async def remove_policy(
        self, request: Request[Any, Any, Any], group: FromPath[LimitGroup]
    ) -> LimitPolicies:
        return await _limits(request).remove(group, command_context(request, None))
