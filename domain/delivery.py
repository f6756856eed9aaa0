"""Tasks: what factories report about the work they do for a task.

Patches already say what changed; a task adds what only the factory knows: which
checks it ran and how they went (`ChecksReported`), and when it considers the task
done, with a summary and its artefacts (`Delivered`). One stream per task id, so the
events of a task are ordered and a report can be rebuilt from them alone.

A task belongs to the actor who recorded its first event; other factories need a
grant (`read`: see its report; `write`: also report checks and deliver, and have
their patches under its id count in its report). Tasks recorded before owners were
have none (`owner` is ""): anyone may write them, and each factory sees its own part.
"""

from __future__ import annotations

from typing import Any, Final
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.contracts import CheckRun, CheckStatus, Cost, DeliveryStatus, WorkspaceAccess
from domain.sharing import Level, Shared

#: Task ids are the factories' own strings; their streams get stable UUIDs from them.
TASK_NAMESPACE: Final = UUID("6f1d6a52-63a1-4d5e-9c55-1f0b8f3c7a10")

FAILING: Final[frozenset[CheckStatus]] = frozenset({"failed", "error"})


def task_stream_id(task_id: str) -> UUID:
    return uuid5(TASK_NAMESPACE, task_id)


def delivery_status(*, failing_checks: int, delivered: bool) -> DeliveryStatus:
    """A factory's status on a task.

    A check whose latest run failed outweighs a delivery: a delivery with red checks
    is not one an operator should accept. Without either, the work is in progress.
    """
    if failing_checks > 0:
        return "failed"
    return "delivered" if delivered else "in_progress"


def task_status(factory_statuses: list[DeliveryStatus]) -> DeliveryStatus:
    """A task fails if any factory's part failed, and is delivered when all parts are."""
    if "failed" in factory_statuses:
        return "failed"
    if factory_statuses and all(s == "delivered" for s in factory_statuses):
        return "delivered"
    return "in_progress"


class Task(Shared, Aggregate):
    """A factory task, identified by the factory's task id."""

    noun = "task"

    @staticmethod
    def create_id(task_id: str) -> UUID:
        return task_stream_id(task_id)

    class Opened(Aggregate.Created):
        task_id: str
        created_by: str

        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["created_by"] = ""  # opened before tasks had owners

    class ChecksReported(Aggregate.Event):
        task_id: str
        factory: str
        checks: list[CheckRun]
        patch_id: UUID | None

    class Delivered(Aggregate.Event):
        task_id: str
        factory: str
        summary: str
        workspace_id: UUID
        final_version: int
        artefacts: list[str]
        cost: Cost | None

    class AccessGranted(Aggregate.Event):
        task_id: str
        actor: str
        access: WorkspaceAccess
        by: str

    class AccessRevoked(Aggregate.Event):
        task_id: str
        actor: str
        by: str

    @event(Opened)
    def __init__(self, task_id: str, created_by: str) -> None:
        self.task_id = task_id
        self.created_by = created_by
        self.deliveries = 0

    @property
    def label(self) -> str:
        return repr(self.task_id)

    def access_of(self, actor: str) -> Level | None:
        if not self.owner:
            return "write"  # opened before owners: open to every writer, as it was
        return super().access_of(actor)

    def report_checks(self, *, factory: str, checks: list[CheckRun], patch_id: UUID | None) -> None:
        self._checks_reported(
            task_id=self.task_id, factory=factory, checks=checks, patch_id=patch_id
        )

    def deliver(
        self,
        *,
        factory: str,
        summary: str,
        workspace_id: UUID,
        final_version: int,
        artefacts: list[str],
        cost: Cost | None,
    ) -> None:
        self._delivered(
            task_id=self.task_id,
            factory=factory,
            summary=summary,
            workspace_id=workspace_id,
            final_version=final_version,
            artefacts=artefacts,
            cost=cost,
        )

    # -- events: these bodies also run on replay, so they only assign ------------------

    @event(ChecksReported)
    def _checks_reported(
        self, task_id: str, factory: str, checks: list[CheckRun], patch_id: UUID | None
    ) -> None:
        pass  # the task keeps no check state; reports are read models

    @event(Delivered)
    def _delivered(
        self,
        task_id: str,
        factory: str,
        summary: str,
        workspace_id: UUID,
        final_version: int,
        artefacts: list[str],
        cost: Cost | None,
    ) -> None:
        self.deliveries += 1

    def _granted(self, actor: str, access: WorkspaceAccess, by: str) -> None:
        self._access_granted(task_id=self.task_id, actor=actor, access=access, by=by)

    def _revoked(self, actor: str, by: str) -> None:
        self._access_revoked(task_id=self.task_id, actor=actor, by=by)

    @event(AccessGranted)
    def _access_granted(self, task_id: str, actor: str, access: WorkspaceAccess, by: str) -> None:
        self._grant_state(actor, access)

    @event(AccessRevoked)
    def _access_revoked(self, task_id: str, actor: str, by: str) -> None:
        self._revoke_state(actor)


#: Every event a task records.
TASK_EVENTS: Final = (
    Task.Opened,
    Task.ChecksReported,
    Task.Delivered,
    Task.AccessGranted,
    Task.AccessRevoked,
)
