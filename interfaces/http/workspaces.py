"""Workspaces and patches over HTTP: where a patch goes in and where its outcome comes out."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from application.access import Principal
from domain.contracts import (
    MAX_COUNTER,
    EventPage,
    FileListing,
    NewWorkspace,
    PatchOutcome,
    PatchPreview,
    PatchRecord,
    PatchRecordPage,
    PatchRequest,
    PatchSubmission,
    Problem,
    RevertRequest,
    WorkspacePage,
    WorkspaceSummary,
)
from infrastructure.projections.workspaces import WorkspaceListProjection
from interfaces.http.auth import requires
from interfaces.http.dependencies import (
    Access,
    FollowersDep,
    Patches,
    Previews,
    Queries,
    Workspaces,
)
from interfaces.http.limits import limited
from interfaces.http.ownership import MAY_READ
from interfaces.http.params import (
    AT_DESCRIPTION,
    IDEMPOTENCY_HEADER,
    REPLAYED_HEADER,
    command_context,
    idempotency_key,
    parse_at,
    recorded_answer,
)
from interfaces.http.problems import rejected_patch, spec
from interfaces.http.read_models import AFTER_POSITION, CURSOR_DESCRIPTION, caught_up

AT = QueryParameter(name="at", required=False, description=AT_DESCRIPTION)
DRY_RUN = QueryParameter(
    name="dry_run",
    description="Decide the patch and answer what it would do, recording nothing.",
)
AFTER_VERSION = QueryParameter(
    ge=0,
    le=MAX_COUNTER,
    description="Start after this workspace version (`cursor`, when given, wins).",
)
NOT_FOUND = {404: spec("No such workspace, patch or file.")}
AUTH = {401: spec("Missing or unknown token."), 403: spec("The token lacks the scope.")}


def _outcome_response(request: Request[Any, Any, Any], record: PatchRecord) -> Response[Any]:
    if record.outcome == "rejected":
        response = rejected_patch(request, record)
        if record.duplicate:
            response.headers[REPLAYED_HEADER] = "true"
        return response
    return recorded_answer(record, duplicate=record.duplicate)


class WorkspaceController(Controller):
    path = "/workspaces"
    tags = ["workspaces"]

    @post(
        "/",
        guards=[requires("write"), limited("writes", "workspaces")],
        summary="Create a workspace, optionally with initial files",
        responses={422: spec("Invalid name or files."), **AUTH},
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        patches: Patches,
        data: JSONBody[NewWorkspace],
        key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
    ) -> Response[WorkspaceSummary]:
        context = command_context(request, idempotency_key(request))
        summary = await patches.create_workspace(data, context)
        return recorded_answer(summary, duplicate=summary.duplicate)

    @get(
        "/",
        guards=[requires("read")],
        summary="Workspaces the caller may see, newest first, filtered by name or creator",
        responses={422: spec("Bad filter or cursor."), **AUTH},
    )
    async def list_workspaces(
        self,
        request: Request[Any, Any, Any],
        workspace_list: Workspaces,
        followers: FollowersDep,
        name: Annotated[str | None, QueryParameter(description="Only this exact name.")] = None,
        created_by: Annotated[
            str | None, QueryParameter(description="Only those this actor created.")
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, QueryParameter(description=CURSOR_DESCRIPTION)] = None,
        after_position: Annotated[int | None, AFTER_POSITION] = None,
    ) -> Response[WorkspacePage]:
        fresh = await caught_up(followers, WorkspaceListProjection.name, after_position)
        principal: Principal = request.user
        page = await workspace_list.page(
            name=name,
            created_by=created_by,
            limit=limit,
            cursor=cursor,
            visible_to=None if principal.may("admin") else principal.actor,
        )
        return Response(page, headers=fresh)

    @get(
        "/{workspace_id:uuid}",
        guards=[requires("read"), MAY_READ],
        summary="A workspace's summary, now or at a version/moment",
        responses={**NOT_FOUND, 422: spec("Bad `at`."), **AUTH},
    )
    async def show(
        self,
        queries: Queries,
        workspace_id: FromPath[UUID],
        at: Annotated[str | None, AT] = None,
    ) -> WorkspaceSummary:
        return await queries.summary(workspace_id, parse_at(at))

    @post(
        "/{workspace_id:uuid}/archive",
        guards=[requires("write")],
        status_code=200,
        summary="Archive a workspace; it then refuses patches",
        responses={**NOT_FOUND, 409: spec("Already archived."), **AUTH},
    )
    async def archive(
        self,
        request: Request[Any, Any, Any],
        patches: Patches,
        workspace_id: FromPath[UUID],
        key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
    ) -> Response[WorkspaceSummary]:
        context = command_context(request, idempotency_key(request))
        summary = await patches.archive(workspace_id, context)
        return recorded_answer(summary, duplicate=summary.duplicate, status_code=200)

    @post(
        "/{workspace_id:uuid}/patches",
        guards=[requires("write"), limited("writes")],
        summary="Submit a patch: all operations apply, or none",
        description=(
            "201 with the applied patch; 409 (conflict with the workspace: stale base, "
            "missing file, edit or hunk that does not match) or 422 (invalid path, content, "
            "diff, limits) as problem+json. Rejections are recorded too and carry `patch_id`. "
            "With `dry_run=true`: 200 with what the patch would do (outcome, per-file "
            "changes, how each part matched, the diff), and nothing is recorded."
        ),
        responses={
            200: ResponseSpec(
                PatchPreview, description="`dry_run=true`: what would happen; nothing recorded."
            ),
            409: spec("The patch conflicts with the workspace; it was recorded as rejected."),
            422: spec("The patch is invalid (field/operation named)."),
            503: spec("The workspace kept changing; retry with the same Idempotency-Key."),
            **NOT_FOUND,
            **AUTH,
        },
    )
    async def submit(
        self,
        request: Request[Any, Any, Any],
        patches: Patches,
        previews: Previews,
        workspace_id: FromPath[UUID],
        data: JSONBody[PatchRequest],
        key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
        dry_run: Annotated[bool, DRY_RUN] = False,
    ) -> Response[PatchRecord | PatchPreview | Problem]:
        principal = request.user
        submission = PatchSubmission(
            workspace_id=workspace_id,
            base_version=data.base_version,
            author=data.author or principal.actor,
            task_id=data.task_id,
            idempotency_key=idempotency_key(request, data.idempotency_key),
            operations=data.operations,
            message=data.message,
        )
        if dry_run:
            preview = await previews.preview(submission, command_context(request, None))
            return Response(preview, status_code=200)
        record = await patches.submit(submission, command_context(request, None))
        return _outcome_response(request, record)

    @get(
        "/{workspace_id:uuid}/patches",
        guards=[requires("read"), MAY_READ],
        summary="Patch history, filtered and paged by version",
        responses={**NOT_FOUND, **AUTH},
    )
    async def history(
        self,
        queries: Queries,
        workspace_id: FromPath[UUID],
        author: FromQuery[str | None] = None,
        task_id: FromQuery[str | None] = None,
        outcome: FromQuery[PatchOutcome | None] = None,
        after_version: Annotated[int, AFTER_VERSION] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        cursor: Annotated[str | None, QueryParameter(description=CURSOR_DESCRIPTION)] = None,
    ) -> PatchRecordPage:
        return await queries.history(
            workspace_id,
            author=author,
            task_id=task_id,
            outcome=outcome,
            after_version=after_version,
            limit=limit,
            cursor=cursor,
        )

    @get(
        "/{workspace_id:uuid}/files",
        guards=[requires("read"), MAY_READ],
        summary="The file tree (path -> sha256, mode, size), now or at a version/moment",
        responses={**NOT_FOUND, 422: spec("Bad `at`."), **AUTH},
    )
    async def files(
        self,
        queries: Queries,
        workspace_id: FromPath[UUID],
        at: Annotated[str | None, AT] = None,
    ) -> FileListing:
        return await queries.files(workspace_id, parse_at(at))

    @get(
        "/{workspace_id:uuid}/files/{file_path:path}",
        guards=[requires("read"), MAY_READ],
        summary="One file's bytes, now or at a version/moment",
        description="The raw content; headers give its sha256 (ETag), mode and version.",
        media_type="application/octet-stream",
        responses={**NOT_FOUND, 422: spec("Bad `at`."), **AUTH},
    )
    async def file(
        self,
        queries: Queries,
        workspace_id: FromPath[UUID],
        file_path: FromPath[str],
        at: Annotated[str | None, AT] = None,
    ) -> Response[bytes]:
        entry, content, version = await queries.file(
            workspace_id, file_path.lstrip("/"), parse_at(at)
        )
        return Response(
            content,
            media_type="application/octet-stream",
            headers={
                "ETag": f'"{entry.sha256}"',
                "X-File-Mode": entry.mode,
                "X-Workspace-Version": str(version),
            },
        )

    @get(
        "/{workspace_id:uuid}/diff",
        guards=[requires("read"), MAY_READ],
        summary="Unified diff between two versions (git style, all files)",
        media_type="text/x-diff",
        responses={**NOT_FOUND, 422: spec("Bad `from` or `to`."), **AUTH},
    )
    async def diff(
        self,
        queries: Queries,
        workspace_id: FromPath[UUID],
        from_: Annotated[str, QueryParameter(name="from", description=AT_DESCRIPTION)],
        to: Annotated[str | None, QueryParameter(name="to", description=AT_DESCRIPTION)] = None,
    ) -> Response[str]:
        text = await queries.diff(workspace_id, parse_at(from_, "from"), parse_at(to, "to"))
        return Response(text, media_type="text/x-diff")

    @get(
        "/{workspace_id:uuid}/events",
        guards=[requires("read"), MAY_READ],
        summary="The workspace's recorded events, in version order",
        responses={**NOT_FOUND, **AUTH},
    )
    async def events(
        self,
        queries: Queries,
        workspace_id: FromPath[UUID],
        after_version: Annotated[int, AFTER_VERSION] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        cursor: Annotated[str | None, QueryParameter(description=CURSOR_DESCRIPTION)] = None,
    ) -> EventPage:
        return await queries.events(
            workspace_id, after_version=after_version, limit=limit, cursor=cursor
        )


class PatchController(Controller):
    path = "/patches"
    tags = ["patches"]

    @get(
        "/{patch_id:uuid}",
        guards=[requires("read")],
        summary="One recorded patch outcome",
        responses={**NOT_FOUND, **AUTH},
    )
    async def show(
        self,
        request: Request[Any, Any, Any],
        queries: Queries,
        access: Access,
        patch_id: FromPath[UUID],
    ) -> PatchRecord:
        record = await queries.patch(patch_id)
        await access.check(record.workspace_id, command_context(request, None), "read")
        return record

    @post(
        "/{patch_id:uuid}/revert",
        guards=[requires("write"), limited("writes")],
        summary="Revert a patch with a new patch that restores the files it changed",
        responses={
            409: spec("Later patches changed those files, or the patch was not applied."),
            **NOT_FOUND,
            **AUTH,
        },
    )
    async def revert(
        self,
        request: Request[Any, Any, Any],
        patches: Patches,
        patch_id: FromPath[UUID],
        data: JSONBody[RevertRequest],
        key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
    ) -> Response[PatchRecord | Problem]:
        record = await patches.revert(
            patch_id,
            author=data.author or request.user.actor,
            task_id=data.task_id,
            message=data.message,
            context=command_context(request, idempotency_key(request)),
        )
        return _outcome_response(request, record)
