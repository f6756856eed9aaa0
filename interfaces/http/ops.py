"""Ops over HTTP: signals in (events, heartbeats), incidents through their lifecycle,
and the overview an operator opens first."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from domain.contracts import (
    HeartbeatRequest,
    IncidentNote,
    IncidentPage,
    IncidentRequest,
    IncidentStatus,
    IncidentView,
    OpsEventRecorded,
    OpsEventRequest,
    OpsOverview,
    Recorded,
)
from infrastructure.projections.ops import OpsProjection
from interfaces.http.auth import requires
from interfaces.http.dependencies import FollowersDep, Ops, OpsViewsDep
from interfaces.http.limits import limited
from interfaces.http.params import (
    IDEMPOTENCY_HEADER,
    command_context,
    idempotency_key,
    recorded_answer,
)
from interfaces.http.problems import spec
from interfaces.http.read_models import AFTER_POSITION, CURSOR_DESCRIPTION, caught_up
from interfaces.http.workspaces import AUTH


class OpsController(Controller):
    path = "/ops"
    tags = ["ops"]

    @post(
        "/events",
        guards=[requires("write"), limited("writes")],
        summary="Record an ops event; error and critical ones open an incident",
        responses={422: spec("Invalid event."), **AUTH},
    )
    async def report(
        self,
        request: Request[Any, Any, Any],
        ops: Ops,
        data: JSONBody[OpsEventRequest],
        key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
    ) -> Response[OpsEventRecorded]:
        context = command_context(request, idempotency_key(request))
        receipt = await ops.report(data, context)
        return recorded_answer(receipt, duplicate=receipt.recorded.duplicate)

    @post(
        "/heartbeats",
        guards=[requires("write"), limited("writes")],
        summary="Say a service or factory is alive (it goes stale after 3 missed intervals)",
        responses={422: spec("Invalid heartbeat."), **AUTH},
    )
    async def heartbeat(
        self,
        request: Request[Any, Any, Any],
        ops: Ops,
        data: JSONBody[HeartbeatRequest],
        key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
    ) -> Response[Recorded]:
        recorded: Recorded = await ops.heartbeat(
            data, command_context(request, idempotency_key(request))
        )
        return recorded_answer(recorded, duplicate=recorded.duplicate)

    @get(
        "/overview",
        guards=[requires("read")],
        summary="Health per source, open incidents, recent alerts, projection and relay lag",
        responses=AUTH,
    )
    async def overview(
        self,
        ops_views: OpsViewsDep,
        followers: FollowersDep,
        after_position: Annotated[int | None, AFTER_POSITION] = None,
    ) -> Response[OpsOverview]:
        fresh = await caught_up(followers, OpsProjection.name, after_position)
        overview = await ops_views.overview(datetime.now(UTC))
        return Response(overview, headers=fresh)

    @get(
        "/incidents",
        guards=[requires("read")],
        summary="Incidents, most recently changed first",
        responses=AUTH,
    )
    async def incidents(
        self,
        ops_views: OpsViewsDep,
        followers: FollowersDep,
        status: FromQuery[IncidentStatus | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        cursor: Annotated[str | None, QueryParameter(description=CURSOR_DESCRIPTION)] = None,
        after_position: Annotated[int | None, AFTER_POSITION] = None,
    ) -> Response[IncidentPage]:
        fresh = await caught_up(followers, OpsProjection.name, after_position)
        page = await ops_views.incidents(status=status, limit=limit, cursor=cursor)
        return Response(page, headers=fresh)

    @post(
        "/incidents",
        guards=[requires("write")],
        summary="Open an incident by hand",
        responses={409: spec("An incident for this source and kind is open."), **AUTH},
    )
    async def open_incident(
        self,
        request: Request[Any, Any, Any],
        ops: Ops,
        data: JSONBody[IncidentRequest],
        key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
    ) -> Response[Recorded]:
        recorded: Recorded = await ops.open_incident(
            data, command_context(request, idempotency_key(request))
        )
        return recorded_answer(recorded, duplicate=recorded.duplicate)

    @get(
        "/incidents/{incident_id:uuid}",
        guards=[requires("read")],
        summary="One incident",
        responses={404: spec("No such incident."), **AUTH},
    )
    async def incident(
        self,
        ops_views: OpsViewsDep,
        followers: FollowersDep,
        incident_id: FromPath[UUID],
        after_position: Annotated[int | None, AFTER_POSITION] = None,
    ) -> Response[IncidentView]:
        fresh = await caught_up(followers, OpsProjection.name, after_position)
        view = await ops_views.incident(incident_id)
        if view is None:
            raise NotFoundException(f"incident {incident_id} does not exist")
        return Response(view, headers=fresh)

    @post(
        "/incidents/{incident_id:uuid}/ack",
        guards=[requires("write")],
        summary="Acknowledge an open incident: someone is on it",
        responses={
            404: spec("No such incident."),
            409: spec("Not open (already acknowledged or resolved)."),
            **AUTH,
        },
    )
    async def acknowledge(
        self,
        request: Request[Any, Any, Any],
        ops: Ops,
        incident_id: FromPath[UUID],
        data: JSONBody[IncidentNote | None] = None,
        key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
    ) -> Response[Recorded]:
        note = data.note if data else ""
        recorded: Recorded = await ops.acknowledge(
            incident_id, note, command_context(request, idempotency_key(request))
        )
        return recorded_answer(recorded, duplicate=recorded.duplicate)

    @post(
        "/incidents/{incident_id:uuid}/resolve",
        guards=[requires("write")],
        summary="Resolve an incident; the next error of its kind opens it again",
        responses={404: spec("No such incident."), 409: spec("Already resolved."), **AUTH},
    )
    async def resolve(
        self,
        request: Request[Any, Any, Any],
        ops: Ops,
        incident_id: FromPath[UUID],
        data: JSONBody[IncidentNote | None] = None,
        key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
    ) -> Response[Recorded]:
        note = data.note if data else ""
        recorded: Recorded = await ops.resolve(
            incident_id, note, command_context(request, idempotency_key(request))
        )
        return recorded_answer(recorded, duplicate=recorded.duplicate)
