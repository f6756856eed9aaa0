"""Tasks: what factories report about the work they do for a task.

Patches already say what changed; a task adds what only the factory knows: which
checks it ran and how they went (`ChecksReported`), and when it considers the task
done, with a summary and its artefacts (`Delivered`). One stream per task id, so the
events of a task are ordered and a report can be rebuilt from them alone.
"""

from __future__ import annotations

from typing import Final
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.contracts import CheckRun, CheckStatus, Cost, DeliveryStatus

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


class Task(Aggregate):
    """A factory task, identified by the factory's task id."""

    @staticmethod
    def create_id(task_id: str) -> UUID:
        return task_stream_id(task_id)

    class Opened(Aggregate.Created):
        task_id: str

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

    @event(Opened)
    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self.deliveries = 0

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


#: Every event a task records.
TASK_EVENTS: Final = (Task.Opened, Task.ChecksReported, Task.Delivered)
