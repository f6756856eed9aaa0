"""Delivery use cases: factories report checks and deliver tasks.

The patches a factory applied are already in the log; these commands add what only
the factory knows. Both validate what they point at (the patch, the workspace and
its version) so a report never cites work that does not exist, or that its factory
may not read. The first actor to record for a task owns it; others need its `write`
grant (application/sharing.py).
"""

from __future__ import annotations

from collections.abc import Callable

from application.access import DenialLog, own_name
from application.aggregates import AggregateRepository, CommandContext
from application.commands import execute, recorded, scoped
from application.patch_manager import PatchNotFound, WorkspaceNotFound
from application.patch_records import is_outcome
from application.ports import EventStore
from application.sharing import NoAccess, WorkspaceAccessManager, record, refusal
from domain.contracts import ChecksRequest, DeliveryRequest, Recorded
from domain.delivery import Task, task_stream_id
from domain.errors import Invalid


class VersionNotReached(Invalid):
    """A delivery names a workspace version the workspace has not reached."""

    field = "final_version"

    def __init__(self, version: int, head: int) -> None:
        super().__init__(f"final_version {version} is beyond the workspace's version {head}")
        self.version = version
        self.head = head


class DeliveryService:
    def __init__(
        self,
        store: EventStore,
        repository: AggregateRepository,
        *,
        denials: DenialLog | None = None,
    ) -> None:
        self._store = store
        self._repository = repository
        self._denials = denials
        self._workspaces = WorkspaceAccessManager(store, repository, denials)

    async def report_checks(
        self, task_id: str, request: ChecksRequest, context: CommandContext
    ) -> Recorded:
        if request.patch_id is not None:
            patch = await self._store.find_event(request.patch_id)
            if patch is None or not is_outcome(patch):
                raise PatchNotFound(request.patch_id)
            await self._workspaces.check(patch.stream_id, context, "read")
        factory = await self._factory(request.factory, context, f"report checks of {task_id}")

        def report(task: Task) -> None:
            task.report_checks(
                factory=factory, checks=list(request.checks), patch_id=request.patch_id
            )

        return await self._on_task(task_id, report, scoped(context, f"checks:{task_id}", request))

    async def deliver(
        self, task_id: str, request: DeliveryRequest, context: CommandContext
    ) -> Recorded:
        head = await self._store.stream_version(request.workspace_id)
        if head == 0:
            raise WorkspaceNotFound(request.workspace_id)
        if request.final_version > head:
            raise VersionNotReached(request.final_version, head)
        await self._workspaces.check(request.workspace_id, context, "read")
        factory = await self._factory(request.factory, context, f"deliver task {task_id}")

        def deliver(task: Task) -> None:
            task.deliver(
                factory=factory,
                summary=request.summary,
                workspace_id=request.workspace_id,
                final_version=request.final_version,
                artefacts=list(request.artefacts),
                cost=request.cost,
            )

        return await self._on_task(task_id, deliver, scoped(context, f"deliver:{task_id}", request))

    async def _on_task(
        self, task_id: str, change: Callable[[Task], None], context: CommandContext
    ) -> Recorded:
        def start() -> Task:
            task = Task(task_id=task_id, created_by=context.actor)
            change(task)
            return task

        def contribute(task: Task) -> None:
            refused = refusal(task, context, "write")
            if refused is not None:
                raise refused
            change(task)

        try:
            result = await execute(
                self._store,
                self._repository,
                Task,
                task_stream_id(task_id),
                start=start,
                change=contribute,
                context=context,
            )
        except NoAccess as refused:
            await record(refused, context, self._denials)
            raise
        return recorded(result)

    async def _factory(self, claimed: str | None, context: CommandContext, action: str) -> str:
        """The factory a report is recorded under: the token's actor (naming another is
        refused, and recorded)."""
        return await own_name(
            claimed, context, field="factory", action=action, denials=self._denials
        )
