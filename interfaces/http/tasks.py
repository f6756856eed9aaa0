"""Tasks over HTTP: factories report checks and deliveries, and read the reports.

The first actor to record for a task owns it; others need a grant
(`/tasks/{id}/grants`): `read` to see its report, `write` to report checks and
deliver, and for their patches under its id to count in its report. Everyone sees
their own part of any task (docs/security.md).

Reports are read models, a moment behind the log. Writes answer with their log
`position`; pass it as `after_position` to a report to wait (up to 5 s) until the
report includes your write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from application.aggregates import CommandContext
from application.patch_manager import PatchNotFound, WorkspaceNotFound
from domain.contracts import (
    ChecksRequest,
    DeliveryReport,
    DeliveryReportPage,
    DeliveryRequest,
    DeliveryStatus,
    Identifier,
    Recorded,
)
from domain.decoding import ContractViolation
from infrastructure.projections.delivery import DeliveryProjection
from interfaces.http.auth import requires
from interfaces.http.dependencies import Delivery, FollowersDep, Reports, TaskAccess
from interfaces.http.limits import limited
from interfaces.http.params import (
    IDEMPOTENCY_HEADER,
    command_context,
    idempotency_key,
    recorded_answer,
)
from interfaces.http.problems import spec
from interfaces.http.read_models import AFTER_POSITION, caught_up
from interfaces.http.workspaces import AUTH

TASK_ID: Final = "Task id, as factories name it in patches (`task_id`)."


def viewer(context: CommandContext) -> str | None:
    """Whose view of the reports to show: the caller's, or every counted row (admins)."""
    return None if context.admin else context.actor


class TaskController(Controller):
    path = "/tasks"
    tags = ["delivery"]

    @post(
        "/{task_id:str}/checks",
        guards=[requires("write"), limited("writes")],
        summary="Report check results (tests, lint, build) for a task or one of its patches",
        responses={422: spec("Invalid checks, or an unknown patch_id."), **AUTH},
    )
    async def report_checks(
        self,
        request: Request[Any, Any, Any],
        delivery: Delivery,
        task_id: FromPath[Identifier],
        data: JSONBody[ChecksRequest],
        key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
    ) -> Response[Recorded]:
        context = command_context(request, idempotency_key(request))
        try:
            recorded = await delivery.report_checks(task_id, data, context)
        except PatchNotFound as error:
            raise ContractViolation("patch_id", str(error)) from None
        return recorded_answer(recorded, duplicate=recorded.duplicate)

    @post(
        "/{task_id:str}/deliver",
        guards=[requires("write"), limited("writes")],
        summary="Record a delivery: the factory's summary, artefacts and final version",
        responses={
            422: spec("Invalid delivery: unknown workspace, or a version it never reached."),
            **AUTH,
        },
    )
    async def deliver(
        self,
        request: Request[Any, Any, Any],
        delivery: Delivery,
        task_id: FromPath[Identifier],
        data: JSONBody[DeliveryRequest],
        key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
    ) -> Response[Recorded]:
        context = command_context(request, idempotency_key(request))
        try:
            recorded = await delivery.deliver(task_id, data, context)
        except WorkspaceNotFound as error:
            raise ContractViolation("workspace_id", str(error)) from None
        return recorded_answer(recorded, duplicate=recorded.duplicate)

    @get(
        "/{task_id:str}/delivery-report",
        guards=[requires("read")],
        summary="What every factory did for a task: patches, files, lines, checks, delivery",
        description="Shows the parts of the factories that may write the task (and the "
        "caller's own part). Needs the task's owner, a grant, or an admin token.",
        responses={404: spec("No activity recorded for this task."), **AUTH},
    )
    async def report(
        self,
        request: Request[Any, Any, Any],
        reports: Reports,
        task_access: TaskAccess,
        followers: FollowersDep,
        task_id: FromPath[str],
        after_position: Annotated[int | None, AFTER_POSITION] = None,
    ) -> Response[DeliveryReport]:
        context = command_context(request, None)
        await task_access.may_read_report(task_id, context)
        fresh = await caught_up(followers, DeliveryProjection.name, after_position)
        report = await reports.report(task_id, visible_to=viewer(context))
        if report is None:
            raise NotFoundException(f"no activity recorded for task {task_id!r}")
        return Response(report, headers=fresh)


class DeliveryReportController(Controller):
    path = "/delivery-reports"
    tags = ["delivery"]

    @get(
        "/",
        guards=[requires("read")],
        summary="Delivery reports per task and factory, most recent activity first",
        description="Rows of the tasks the caller owns or was granted, and its own rows; "
        "admin tokens see every task.",
        responses={422: spec("Bad filter or cursor."), **AUTH},
    )
    async def list_reports(
        self,
        request: Request[Any, Any, Any],
        reports: Reports,
        followers: FollowersDep,
        factory: FromQuery[str | None] = None,
        status: FromQuery[DeliveryStatus | None] = None,
        since: Annotated[
            datetime | None,
            QueryParameter(description="Only rows active at or after this ISO 8601 moment."),
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        cursor: Annotated[
            str | None, QueryParameter(description="`next_cursor` of the previous page.")
        ] = None,
        after_position: Annotated[int | None, AFTER_POSITION] = None,
    ) -> Response[DeliveryReportPage]:
        fresh = await caught_up(followers, DeliveryProjection.name, after_position)
        page = await reports.page(
            factory=factory,
            status=status,
            since=since,
            limit=limit,
            cursor=cursor,
            visible_to=viewer(command_context(request, None)),
        )
        return Response(page, headers=fresh)
