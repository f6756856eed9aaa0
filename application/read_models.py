"""Ports for the read side: what the projections let the interfaces ask.

Read models are eventually consistent. Every write answers with its log position;
`Followers.wait_for` lets a reader wait (briefly) until a projection has passed it,
so a client can read its own writes without polling.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.contracts import (
    DeliveryReport,
    DeliveryReportPage,
    DeliveryStatus,
    FollowerLag,
    IncidentPage,
    IncidentStatus,
    IncidentView,
    OpsOverview,
    SecretPage,
    WorkspacePage,
)


class DeliveryReports(Protocol):
    """Reports as `visible_to` an actor may see them: its own rows, and the counted rows
    of the tasks it may read (None: an admin, every counted row). See
    infrastructure/projections/delivery.py for which rows count."""

    async def report(self, task_id: str, *, visible_to: str | None) -> DeliveryReport | None: ...

    async def page(
        self,
        *,
        factory: str | None,
        status: DeliveryStatus | None,
        since: datetime | None,
        limit: int,
        cursor: str | None,
        visible_to: str | None,
    ) -> DeliveryReportPage: ...


class WorkspaceList(Protocol):
    async def page(
        self,
        *,
        name: str | None,
        created_by: str | None,
        limit: int,
        cursor: str | None,
        visible_to: str | None = None,
    ) -> WorkspacePage:
        """A page of workspaces; with `visible_to`, only those that actor owns or was
        granted (None: all, for admins)."""
        ...

    async def with_prefix(self, low: UUID, high: UUID, limit: int) -> list[UUID]:
        """Workspace ids in [low, high]: the candidates for a short id prefix."""
        ...


class OpsViews(Protocol):
    async def overview(self, now: datetime) -> OpsOverview: ...

    async def incidents(
        self, *, status: IncidentStatus | None, limit: int, cursor: str | None
    ) -> IncidentPage: ...

    async def incident(self, incident_id: UUID) -> IncidentView | None: ...


class Followers(Protocol):
    """The log's followers (projections, relay) and how far behind they are."""

    async def lags(self) -> list[FollowerLag]: ...

    async def wait_for(self, name: str, position: int, timeout: float) -> bool:
        """True once follower `name` has processed `position`; False on timeout."""
        ...


class SecretList(Protocol):
    async def page(self, *, limit: int, cursor: str | None, visible_to: str | None) -> SecretPage:
        """Secrets by name; with `visible_to`, only those that actor owns (None: all,
        for admins)."""
        ...
