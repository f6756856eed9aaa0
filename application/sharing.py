"""Who may do what with a shared aggregate (a workspace, a task): its owner, the
actors it granted, admins.

An aggregate belongs to the actor whose token recorded its first event. Another
actor needs a grant (`read`: see it; `write`: also change it); granting is the
owner's. A token with the `admin` scope may do everything. Every refusal is 403 and
is recorded (a `warning` ops event from `vibehq.access`, in the refused actor's
name), so an auditor sees attempts too. What `read` and `write` cover for each
aggregate is in docs/security.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Generic, Literal, TypeVar
from uuid import UUID

import msgspec
from eventsourcing.domain import Aggregate

from application.access import DenialLog
from application.aggregates import AggregateNotFound, AggregateRepository, CommandContext
from application.commands import MAX_ATTEMPTS, TooMuchContention, scoped
from application.ports import ConcurrencyConflict, EventStore
from domain.contracts import GrantRequest, TaskGrants, WorkspaceGrants
from domain.delivery import Task, task_stream_id
from domain.errors import Forbidden, NotFound
from domain.sharing import Shared
from domain.workspace import Workspace

#: What a request needs: to see the aggregate, to change it, or to own it.
Need = Literal["read", "write", "owner"]
_ALLOWED: Final[dict[Need, frozenset[str]]] = {
    "read": frozenset({"owner", "write", "read"}),
    "write": frozenset({"owner", "write"}),
    "owner": frozenset({"owner"}),
}
_VERB: Final[dict[Need, str]] = {"read": "read", "write": "change", "owner": "administer"}


class NoAccess(Forbidden):
    def __init__(self, actor: str, shared: Shared, need: Need) -> None:
        hint = "only its owner (or an admin) may" if need == "owner" else "ask its owner for"
        grant = "" if need == "owner" else f" a '{need}' grant"
        #: What was refused, as the audit record names it.
        self.action = f"{_VERB[need]} {shared.noun} {shared.label}"
        super().__init__(f"{actor} may not {self.action}: {hint}{grant}")


class WorkspaceMissing(NotFound):
    def __init__(self, workspace_id: UUID) -> None:
        super().__init__(f"workspace {workspace_id} does not exist")


class TaskMissing(NotFound):
    def __init__(self, task_id: str) -> None:
        super().__init__(f"no task {task_id!r} has been recorded")


def refusal(shared: Shared, context: CommandContext, need: Need) -> NoAccess | None:
    """Why `context`'s actor may not do what `need` says here (None: it may)."""
    if context.admin or shared.access_of(context.actor) in _ALLOWED[need]:
        return None
    return NoAccess(context.actor, shared, need)


async def record(refused: NoAccess, context: CommandContext, denials: DenialLog | None) -> None:
    if denials is not None:
        await denials.denied(context, refused.action, str(refused))


async def require(
    shared: Shared, context: CommandContext, need: Need, denials: DenialLog | None
) -> None:
    """Return if `context`'s actor may do what `need` says here; else record and refuse."""
    refused = refusal(shared, context, need)
    if refused is not None:
        await record(refused, context, denials)
        raise refused


def workspace_grants(workspace: Workspace, position: int = 0) -> WorkspaceGrants:
    return WorkspaceGrants(
        workspace_id=workspace.id,
        owner=workspace.owner,
        grants=dict(workspace.grants),
        version=workspace.version,
        position=position,
    )


def task_grants(task: Task, position: int = 0) -> TaskGrants:
    return TaskGrants(
        task_id=task.task_id,
        owner=task.owner,
        grants=dict(task.grants),
        version=task.version,
        position=position,
    )


K = TypeVar("K")
S = TypeVar("S", bound=Shared)
G = TypeVar("G", bound=msgspec.Struct)


class AccessManager(Generic[K, S, G]):
    """Checks access for reads, and records grants and revocations, for one kind of
    shared aggregate (see `WorkspaceAccessManager`, `TaskAccessManager`)."""

    def __init__(
        self,
        store: EventStore,
        repository: AggregateRepository,
        denials: DenialLog | None,
        *,
        cls: type[S],
        stream: Callable[[K], UUID],
        missing: Callable[[K], NotFound],
        answer: Callable[[S, int], G],
    ) -> None:
        self._store = store
        self._repository = repository
        self._denials = denials
        self._cls = cls
        self._stream = stream
        self._missing = missing
        self._answer = answer

    async def check(self, key: K, context: CommandContext, need: Need) -> None:
        """Refuse (403, recorded) unless the caller may do `need` with it; 404 if missing."""
        if context.admin:
            return
        await require(await self._load(key), context, need, self._denials)

    async def grants(self, key: K, context: CommandContext) -> G:
        shared = await self._load(key)
        await require(shared, context, "read", self._denials)
        return self._answer(shared, 0)

    async def grant(self, key: K, request: GrantRequest, context: CommandContext) -> G:
        context = scoped(context, f"grant:{key}", request)
        return await self._change(
            key, context, lambda s: s.grant(request.actor, request.access, context.actor)
        )

    async def revoke(self, key: K, actor: str, context: CommandContext) -> G:
        context = scoped(context, f"revoke:{key}", actor)
        return await self._change(key, context, lambda s: s.revoke(actor, context.actor))

    async def _change(self, key: K, context: CommandContext, change: Callable[[S], bool]) -> G:
        if context.idempotency_key is not None:
            prior = await self._store.recall(context.idempotency_key, context.request_hash)
            if prior is not None:
                answer = self._answer(await self._load(key), prior.last_position)
                return msgspec.structs.replace(answer, duplicate=True)
        for _ in range(MAX_ATTEMPTS):
            shared = await self._load(key, checkout=True)
            await require(shared, context, "owner", self._denials)
            if not change(shared):
                return self._answer(shared, 0)  # already so: nothing to record
            assert isinstance(shared, Aggregate)
            try:
                result = await self._repository.save(shared, context)
            except ConcurrencyConflict:
                continue
            return self._answer(shared, result.last_position)
        raise TooMuchContention(
            f"{self._cls.noun} {key} kept changing; retry with the same idempotency key"
        )

    async def _load(self, key: K, *, checkout: bool = False) -> S:
        stream = self._stream(key)
        try:
            if checkout:
                return await self._repository.checkout(stream, self._cls)  # type: ignore[type-var]
            return await self._repository.get(stream, self._cls)  # type: ignore[type-var]
        except AggregateNotFound:
            raise self._missing(key) from None


class WorkspaceAccessManager(AccessManager[UUID, Workspace, WorkspaceGrants]):
    def __init__(
        self, store: EventStore, repository: AggregateRepository, denials: DenialLog | None
    ) -> None:
        super().__init__(
            store,
            repository,
            denials,
            cls=Workspace,
            stream=lambda workspace_id: workspace_id,
            missing=WorkspaceMissing,
            answer=workspace_grants,
        )


class TaskAccessManager(AccessManager[str, Task, TaskGrants]):
    def __init__(
        self, store: EventStore, repository: AggregateRepository, denials: DenialLog | None
    ) -> None:
        super().__init__(
            store,
            repository,
            denials,
            cls=Task,
            stream=task_stream_id,
            missing=TaskMissing,
            answer=task_grants,
        )

    async def may_read_report(self, task_id: str, context: CommandContext) -> None:
        """A task's report is for those who may read the task; a task with no events of
        its own (only patches name it) or no owner shows each factory its own part."""
        if context.admin:
            return
        try:
            task = await self._load(task_id)
        except TaskMissing:
            return
        if task.owner and task.access_of(context.actor) is None:
            await require(task, context, "read", self._denials)
