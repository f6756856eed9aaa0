"""`/workspaces/{id}/grants`, `/tasks/{id}/grants`: who besides its owner may read or
write a workspace or a task."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath, JSONBody

from domain.contracts import GrantRequest, Identifier, TaskGrants, WorkspaceGrants
from interfaces.http.auth import requires
from interfaces.http.dependencies import Access, TaskAccess
from interfaces.http.params import (
    IDEMPOTENCY_HEADER,
    command_context,
    idempotency_key,
    recorded_answer,
)
from interfaces.http.problems import spec

AUTH = {401: spec("Missing or unknown token."), 403: spec("Not the owner (nor an admin).")}
NOT_FOUND = {404: spec("No such workspace.")}


class GrantController(Controller):
    path = "/workspaces/{workspace_id:uuid}/grants"
    tags = ["workspaces"]

    @get(
        "/",
        guards=[requires("read")],
        summary="The workspace's owner and the actors it granted read or write",
        responses={**NOT_FOUND, **AUTH},
    )
    async def show(
        self, request: Request[Any, Any, Any], access: Access, workspace_id: FromPath[UUID]
    ) -> WorkspaceGrants:
        return await access.grants(workspace_id, command_context(request, None))

    @post(
        "/",
        guards=[requires("write")],
        status_code=200,
        summary="Let an actor read, or read and write, the workspace (owner or admin)",
        description="Granting what an actor already has records nothing.",
        responses={**NOT_FOUND, **AUTH, 409: spec("The actor owns the workspace.")},
    )
    async def grant(
        self,
        request: Request[Any, Any, Any],
        access: Access,
        workspace_id: FromPath[UUID],
        data: JSONBody[GrantRequest],
        key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
    ) -> Response[WorkspaceGrants]:
        context = command_context(request, idempotency_key(request))
        granted = await access.grant(workspace_id, data, context)
        return recorded_answer(granted, duplicate=granted.duplicate, status_code=200)

    @delete(
        "/{actor:str}",
        guards=[requires("write")],
        status_code=200,
        summary="Take an actor's grant away (owner or admin)",
        responses={**NOT_FOUND, **AUTH},
    )
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        access: Access,
        workspace_id: FromPath[UUID],
        actor: FromPath[Identifier],
    ) -> Response[WorkspaceGrants]:
        context = command_context(request, idempotency_key(request))
        return Response(await access.revoke(workspace_id, actor, context))


class TaskGrantController(Controller):
    path = "/tasks/{task_id:str}/grants"
    tags = ["delivery"]

    @get(
        "/",
        guards=[requires("read")],
        summary="The task's owner and the actors it granted read or write",
        responses={404: spec("No task events recorded under this id."), **AUTH},
    )
    async def show(
        self, request: Request[Any, Any, Any], task_access: TaskAccess, task_id: FromPath[str]
    ) -> TaskGrants:
        return await task_access.grants(task_id, command_context(request, None))

    @post(
        "/",
        guards=[requires("write")],
        status_code=200,
        summary="Let an actor read the task's report, or also contribute (owner or admin)",
        description="`write` lets the actor report checks and deliver, and makes its "
        "patches under this task id count in the report. Granting what an actor already "
        "has records nothing.",
        responses={
            404: spec("No task events recorded under this id."),
            **AUTH,
            409: spec("The actor owns the task."),
        },
    )
    async def grant(
        self,
        request: Request[Any, Any, Any],
        task_access: TaskAccess,
        task_id: FromPath[Identifier],
        data: JSONBody[GrantRequest],
        key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
    ) -> Response[TaskGrants]:
        context = command_context(request, idempotency_key(request))
        granted = await task_access.grant(task_id, data, context)
        return recorded_answer(granted, duplicate=granted.duplicate, status_code=200)

    @delete(
        "/{actor:str}",
        guards=[requires("write")],
        status_code=200,
        summary="Take an actor's task grant away (owner or admin)",
        responses={404: spec("No task events recorded under this id."), **AUTH},
    )
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        task_access: TaskAccess,
        task_id: FromPath[Identifier],
        actor: FromPath[Identifier],
    ) -> Response[TaskGrants]:
        context = command_context(request, idempotency_key(request))
        return Response(await task_access.revoke(task_id, actor, context))
