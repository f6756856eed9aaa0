"""`/secrets`: values flow in, sealed; metadata, grants and the release history are
the owner's; a granted service token resolves a value, and that release is recorded
before the value leaves (application/secrets.py). docs/secrets.md has the model.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from application.access import Principal
from domain.contracts import (
    Identifier,
    LeasedSecret,
    LeaseRequest,
    NewSecret,
    ResolvedSecret,
    ResolveRequest,
    SecretGrantRequest,
    SecretInfo,
    SecretName,
    SecretPage,
    SecretReleases,
    SecretValueRequest,
    ShredRequest,
)
from infrastructure.projections.secrets import SecretListProjection
from interfaces.http.auth import requires
from interfaces.http.dependencies import FollowersDep, SecretListDep, SecretsDep
from interfaces.http.params import (
    IDEMPOTENCY_HEADER,
    command_context,
    idempotency_key,
    recorded_answer,
)
from interfaces.http.problems import spec
from interfaces.http.read_models import AFTER_POSITION, CURSOR_DESCRIPTION, caught_up

AUTH = {401: spec("Missing or unknown token."), 403: spec("Not the secret's owner (nor admin).")}
MISSING = {404: spec("No secret by that name.")}


class SecretController(Controller):
    path = "/secrets"
    tags = ["secrets"]

    @post(
        "/",
        guards=[requires("write")],
        summary="Store a secret's first value (sealed; it never comes back out this way)",
        responses={**AUTH, 409: spec("A secret by that name exists.")},
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        secrets: SecretsDep,
        data: JSONBody[NewSecret],
        key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
    ) -> Response[SecretInfo]:
        info = await secrets.create(data, command_context(request, idempotency_key(request)))
        return recorded_answer(info, duplicate=info.duplicate)

    @get(
        "/",
        guards=[requires("read")],
        summary="The caller's secrets by name (an admin's: all), metadata only",
        responses={422: spec("Bad cursor."), 401: AUTH[401]},
    )
    async def list_secrets(
        self,
        request: Request[Any, Any, Any],
        secret_list: SecretListDep,
        followers: FollowersDep,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, QueryParameter(description=CURSOR_DESCRIPTION)] = None,
        after_position: Annotated[int | None, AFTER_POSITION] = None,
    ) -> Response[SecretPage]:
        fresh = await caught_up(followers, SecretListProjection.name, after_position)
        principal: Principal = request.user
        page = await secret_list.page(
            limit=limit,
            cursor=cursor,
            visible_to=None if principal.may("admin") else principal.actor,
        )
        return Response(page, headers=fresh)

    @get(
        "/{name:str}",
        guards=[requires("read")],
        summary="A secret's metadata: versions (fingerprints), grants, shredded",
        responses={**MISSING, **AUTH},
    )
    async def show(
        self, request: Request[Any, Any, Any], secrets: SecretsDep, name: FromPath[SecretName]
    ) -> SecretInfo:
        return await secrets.info(name, command_context(request, None))

    @post(
        "/{name:str}/versions",
        guards=[requires("write")],
        summary="Rotate: the secret's next value (resolves return it from now on)",
        responses={**MISSING, **AUTH},
    )
    async def add_version(
        self,
        request: Request[Any, Any, Any],
        secrets: SecretsDep,
        name: FromPath[SecretName],
        data: JSONBody[SecretValueRequest],
        key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
    ) -> Response[SecretInfo]:
        context = command_context(request, idempotency_key(request))
        info = await secrets.add_version(name, data, context)
        return recorded_answer(info, duplicate=info.duplicate)

    @post(
        "/{name:str}/grants",
        guards=[requires("write")],
        status_code=200,
        summary="Let a principal (a service, a factory, a session) use it for a purpose",
        responses={**MISSING, **AUTH},
    )
    async def grant(
        self,
        request: Request[Any, Any, Any],
        secrets: SecretsDep,
        name: FromPath[SecretName],
        data: JSONBody[SecretGrantRequest],
        key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
    ) -> Response[SecretInfo]:
        context = command_context(request, idempotency_key(request))
        info = await secrets.grant(name, data, context)
        return recorded_answer(info, duplicate=info.duplicate, status_code=200)

    @delete(
        "/{name:str}/grants/{principal:str}",
        guards=[requires("write")],
        status_code=200,
        summary="Take a principal's grant away",
        responses={**MISSING, **AUTH},
    )
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        secrets: SecretsDep,
        name: FromPath[SecretName],
        principal: FromPath[Identifier],
    ) -> SecretInfo:
        return await secrets.revoke(name, principal, command_context(request, None))

    @get(
        "/{name:str}/releases",
        guards=[requires("read")],
        summary="Every request for the value: who, when, for what, released or denied",
        responses={**MISSING, **AUTH},
    )
    async def releases(
        self, request: Request[Any, Any, Any], secrets: SecretsDep, name: FromPath[SecretName]
    ) -> SecretReleases:
        return await secrets.releases(name, command_context(request, None))

    @post(
        "/{name:str}/resolve",
        guards=[requires("read")],
        status_code=200,
        summary="The value, for a service token granted it for this purpose (recorded first)",
        description="Fail-closed: the release is appended to the log before the value is "
        "opened; if it cannot be recorded, nothing is released. Refusals are recorded too.",
        responses={**MISSING, **AUTH},
    )
    async def resolve(
        self,
        request: Request[Any, Any, Any],
        secrets: SecretsDep,
        name: FromPath[SecretName],
        data: JSONBody[ResolveRequest],
    ) -> Response[ResolvedSecret]:
        principal: Principal = request.user
        resolved = await secrets.resolve(
            name, data.purpose, command_context(request, None), service=principal.kind == "service"
        )
        return Response(resolved, headers={"Cache-Control": "no-store"})

    @post(
        "/{name:str}/lease",
        guards=[requires("read")],
        status_code=200,
        summary="The value to keep for a while, for a service that uses it often",
        description="As resolve, but the answer may be kept and used until `expires_at` "
        "(at most `ttl_seconds`, never past the grant's expiry) without asking again: one "
        "`Secret.Leased` event stands for every use. Drop it sooner when the secret's "
        "`GrantRevoked`, `VersionAdded` or `Shredded` event arrives on NATS.",
        responses={**MISSING, **AUTH},
    )
    async def lease(
        self,
        request: Request[Any, Any, Any],
        secrets: SecretsDep,
        name: FromPath[SecretName],
        data: JSONBody[LeaseRequest],
    ) -> Response[LeasedSecret]:
        principal: Principal = request.user
        leased = await secrets.lease(
            name, data, command_context(request, None), service=principal.kind == "service"
        )
        return Response(leased, headers={"Cache-Control": "no-store"})

    @post(
        "/{name:str}/shred",
        guards=[requires("write")],
        status_code=200,
        summary="Destroy the secret's keys: every version becomes unreadable, for good",
        responses={**MISSING, **AUTH, 409: spec("Already shredded.")},
    )
    async def shred(
        self,
        request: Request[Any, Any, Any],
        secrets: SecretsDep,
        name: FromPath[SecretName],
        data: JSONBody[ShredRequest],
        key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
    ) -> Response[SecretInfo]:
        context = command_context(request, idempotency_key(request))
        info = await secrets.shred(name, data.confirm, context)
        return recorded_answer(info, duplicate=info.duplicate, status_code=200)
