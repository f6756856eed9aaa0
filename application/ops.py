"""Ops use cases: record signals and heartbeats, and run incidents through their lifecycle.

An error or critical event opens the incident of its (source, kind), or counts
towards the one already open. The signal and the opening are two appends: if the
process dies between them, the signal is recorded without its incident, and the next
error of that kind opens it. That is the price of never making signals contend on a
shared stream, and it is stated in docs/projections.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final
from uuid import UUID

import msgspec

from application.aggregates import AggregateNotFound, AggregateRepository, CommandContext
from application.commands import execute, record_new, recorded, scoped
from application.event_codec import EventCodec
from application.ports import AppendResult, EventStore
from domain.contracts import (
    HeartbeatRequest,
    IncidentRequest,
    OpsEventRecorded,
    OpsEventRequest,
    Recorded,
    Severity,
)
from domain.errors import NotFound
from domain.ops import (
    OPENS_INCIDENT,
    Incident,
    IncidentTransitionRefused,
    OpsEvent,
    SourceHeartbeat,
    incident_id,
)

_CODEC: Final = EventCodec()


class IncidentNotFound(NotFound):
    def __init__(self, incident: UUID) -> None:
        super().__init__(f"incident {incident} does not exist")
        self.incident_id = incident


#: The source of the ops events that record refused attempts.
ACCESS_SOURCE: Final = "vibehq.access"


class OpsService:
    def __init__(self, store: EventStore, repository: AggregateRepository) -> None:
        self._store = store
        self._repository = repository

    async def denied(self, context: CommandContext, action: str, detail: str) -> None:
        """Record a refused attempt (`DenialLog`): a warning from source `vibehq.access`,
        in the caller's name, for `vibehq audit trail` and the ops views."""
        attempt = OpsEventRequest(
            source=ACCESS_SOURCE,
            kind="denied",
            severity="warning",
            message=f"{context.actor} may not {action}: {detail}"[:20_000],
            attributes={"actor": context.actor[:2000], "action": action[:2000]},
        )
        await self.report(attempt, msgspec.structs.replace(context, idempotency_key=None))

    async def report(self, request: OpsEventRequest, context: CommandContext) -> OpsEventRecorded:
        context = scoped(context, "ops-event", request)
        if context.idempotency_key is not None:
            prior = await self._store.recall(context.idempotency_key, context.request_hash)
            if prior is not None:
                return await self._first_receipt(prior, request)
        signal = OpsEvent(
            source=request.source,
            kind=request.kind,
            severity=request.severity,
            message=request.message,
            attributes=dict(request.attributes),
        )
        result = await self._repository.save(signal, context)
        if request.severity not in OPENS_INCIDENT:
            return OpsEventRecorded(recorded(result))
        incident, opening = await self._open_or_join(
            source=request.source,
            kind=request.kind,
            title=request.message.splitlines()[0][:200] if request.message else request.kind,
            severity=request.severity,
            cause_id=signal.id,
            context=msgspec.structs.replace(context, idempotency_key=None, causation_id=signal.id),
        )
        return OpsEventRecorded(
            recorded(result),
            incident_id=incident,
            incident_opened=opening is not None,
            incident_recorded=opening,
        )

    async def _first_receipt(
        self, prior: AppendResult, request: OpsEventRequest
    ) -> OpsEventRecorded:
        """What the first `report` of a retried request answered, from the log."""
        signal = recorded(prior)
        if request.severity not in OPENS_INCIDENT:
            return OpsEventRecorded(signal)
        target = incident_id(request.source, request.kind)
        for record in await self._store.read_stream(target):
            event = _CODEC.decode(record)
            opening_step = isinstance(event, Incident.Opened | Incident.Reopened)
            if opening_step and getattr(event, "cause_id", None) == prior.stream_id:
                opening = Recorded(
                    stream_id=target,
                    version=record.stream_version,
                    position=record.position,
                    recorded_at=record.recorded_at,
                    duplicate=True,
                )
                return OpsEventRecorded(signal, target, True, opening)
        return OpsEventRecorded(signal, incident_id=target)

    async def heartbeat(self, request: HeartbeatRequest, context: CommandContext) -> Recorded:
        result = await record_new(
            self._store,
            self._repository,
            lambda: SourceHeartbeat(
                source=request.source,
                status=request.status,
                interval_seconds=request.interval_seconds,
            ),
            scoped(context, "heartbeat", request),
        )
        return recorded(result)

    async def open_incident(self, request: IncidentRequest, context: CommandContext) -> Recorded:
        """Open an incident by hand; refused (409) if one is open for (source, kind)."""

        def reopen(incident: Incident) -> None:
            incident.reopen(
                title=request.title, severity=request.severity, by=context.actor, cause_id=None
            )

        result = await execute(
            self._store,
            self._repository,
            Incident,
            incident_id(request.source, request.kind),
            start=lambda: Incident(
                source=request.source,
                kind=request.kind,
                title=request.title,
                severity=request.severity,
                by=context.actor,
                cause_id=None,
            ),
            change=reopen,
            context=scoped(context, "incident", request),
        )
        return recorded(result)

    async def acknowledge(self, incident: UUID, note: str, context: CommandContext) -> Recorded:
        def step(target: Incident) -> None:
            target.acknowledge(by=context.actor, note=note)

        return await self._step(incident, scoped(context, f"ack:{incident}", note), step)

    async def resolve(self, incident: UUID, note: str, context: CommandContext) -> Recorded:
        def step(target: Incident) -> None:
            target.resolve(by=context.actor, note=note)

        return await self._step(incident, scoped(context, f"resolve:{incident}", note), step)

    async def _step(
        self, incident: UUID, context: CommandContext, step: Callable[[Incident], None]
    ) -> Recorded:
        try:
            result = await execute(
                self._store, self._repository, Incident, incident, change=step, context=context
            )
        except AggregateNotFound:
            raise IncidentNotFound(incident) from None
        return recorded(result)

    async def _open_or_join(
        self,
        *,
        source: str,
        kind: str,
        title: str,
        severity: Severity,
        cause_id: UUID,
        context: CommandContext,
    ) -> tuple[UUID, Recorded | None]:
        """Open the (source, kind) incident unless it is already open or acknowledged."""
        target = incident_id(source, kind)
        opened = False

        def start() -> Incident:
            nonlocal opened
            opened = True
            return Incident(
                source=source,
                kind=kind,
                title=title,
                severity=severity,
                by=context.actor,
                cause_id=cause_id,
            )

        def reopen_if_resolved(incident: Incident) -> None:
            nonlocal opened
            if not incident.is_resolved:
                raise _AlreadyOpen
            incident.reopen(title=title, severity=severity, by=context.actor, cause_id=cause_id)
            opened = True

        try:
            result = await execute(
                self._store,
                self._repository,
                Incident,
                target,
                start=start,
                change=reopen_if_resolved,
                context=context,
            )
        except _AlreadyOpen:
            return target, None
        return target, recorded(result) if opened else None


class _AlreadyOpen(Exception):
    """Control flow: the incident is open already; the error event just joins it."""


__all__ = ["IncidentNotFound", "IncidentTransitionRefused", "OpsEventRecorded", "OpsService"]
