"""`/env-profiles`: which secrets become which environment variables for a kind of
agent session; a granted service (the agent runner) resolves one for a session."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post, put
from litestar.params import FromPath, JSONBody

from application.access import Principal
from domain.contracts import EnvProfileInfo, EnvProfileRequest, Identifier, ResolvedEnv
from interfaces.http.auth import requires
from interfaces.http.dependencies import EnvProfilesDep
from interfaces.http.params import command_context
from interfaces.http.problems import spec

AUTH = {401: spec("Missing or unknown token."), 403: spec("Not allowed.")}
MISSING = {404: spec("No env profile by that name.")}


class EnvProfileController(Controller):
    path = "/env-profiles"
    tags = ["secrets"]

    @put(
        "/{name:str}",
        guards=[requires("write")],
        summary="Define (or change) which secrets become which environment variables",
        responses=AUTH,
    )
    async def define(
        self,
        request: Request[Any, Any, Any],
        profiles: EnvProfilesDep,
        name: FromPath[Identifier],
        data: JSONBody[EnvProfileRequest],
    ) -> EnvProfileInfo:
        return await profiles.define(name, data, command_context(request, None))

    @get(
        "/{name:str}",
        guards=[requires("read")],
        summary="A profile's variables and the secrets behind them (names, never values)",
        responses={**MISSING, **AUTH},
    )
    async def show(self, profiles: EnvProfilesDep, name: FromPath[Identifier]) -> EnvProfileInfo:
        return await profiles.show(name)

    @post(
        "/{name:str}/resolve",
        guards=[requires("read")],
        status_code=200,
        summary="The environment for one session (service tokens; each release recorded)",
        description="Every variable is checked first: if a required one cannot be had, "
        "nothing is released and the 403 names the variables and secrets missing.",
        responses={**MISSING, **AUTH},
    )
    async def resolve(
        self, request: Request[Any, Any, Any], profiles: EnvProfilesDep, name: FromPath[Identifier]
    ) -> Response[ResolvedEnv]:
        principal: Principal = request.user
        resolved = await profiles.resolve(
            name, command_context(request, None), service=principal.kind == "service"
        )
        return Response(resolved, headers={"Cache-Control": "no-store"})
