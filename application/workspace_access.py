"""Who may do what with a workspace: its owner, the actors it granted, admins.

A workspace belongs to the actor whose token created it. Another actor needs a grant
(`read`: see it, its files, history and feed; `write`: also patch and revert);
granting and archiving are the owner's. A token with the `admin` scope may do
everything. Every refusal is 403 and is recorded (a `warning` ops event from
`vibehq.access`, in the refused actor's name), so an auditor sees attempts too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Literal
from uuid import UUID

import msgspec

from application.access import DenialLog
from application.aggregates import AggregateNotFound, AggregateRepository, CommandContext
from application.commands import MAX_ATTEMPTS, TooMuchContention, scoped
from application.ports import ConcurrencyConflict, EventStore
from domain.contracts import GrantRequest, WorkspaceGrants
from domain.errors import Forbidden, NotFound
from domain.workspace import Workspace

#: What a request needs: to see the workspace, to change it, or to own it.
Need = Literal["read", "write", "owner"]
_ALLOWED: Final[dict[Need, frozenset[str]]] = {
    "read": frozenset({"owner", "write", "read"}),
    "write": frozenset({"owner", "write"}),
    "owner": frozenset({"owner"}),
}
_VERB: Final[dict[Need, str]] = {"read": "read", "write": "change", "owner": "administer"}


class NoAccess(Forbidden):
    def __init__(self, actor: str, workspace_id: UUID, need: Need) -> None:
        hint = "only its owner (or an admin) may" if need == "owner" else "ask its owner for"
        grant = "" if need == "owner" else f" a '{need}' grant"
        super().__init__(f"{actor} may not {_VERB[need]} workspace {workspace_id}: {hint}{grant}")


class WorkspaceMissing(NotFound):
    def __init__(self, workspace_id: UUID) -> None:
        super().__init__(f"workspace {workspace_id} does not exist")


async def require(
    workspace: Workspace, context: CommandContext, need: Need, denials: DenialLog | None
) -> None:
    """Return if `context`'s actor may do what `need` says here; else record and refuse."""
    if context.admin or workspace.access_of(context.actor) in _ALLOWED[need]:
        return
    refusal = NoAccess(context.actor, workspace.id, need)
    if denials is not None:
        await denials.denied(context, f"{_VERB[need]} workspace {workspace.id}", str(refusal))
    raise refusal


def grants_of(workspace: Workspace, position: int = 0) -> WorkspaceGrants:
    return WorkspaceGrants(
        workspace_id=workspace.id,
        owner=workspace.created_by,
        grants=dict(workspace.grants),
        version=workspace.version,
        position=position,
    )


class WorkspaceAccessManager:
    """Checks access for reads, and records grants and revocations."""

    def __init__(
        self, store: EventStore, repository: AggregateRepository, denials: DenialLog | None
    ) -> None:
        self._store = store
        self._repository = repository
        self._denials = denials

    async def check(self, workspace_id: UUID, context: CommandContext, need: Need) -> None:
        """Refuse (403, recorded) unless the caller may do `need` with the workspace."""
        if context.admin:
            return
        await require(await self._load(workspace_id), context, need, self._denials)

    async def grants(self, workspace_id: UUID, context: CommandContext) -> WorkspaceGrants:
        workspace = await self._load(workspace_id)
        await require(workspace, context, "read", self._denials)
        return grants_of(workspace)

    async def grant(
        self, workspace_id: UUID, request: GrantRequest, context: CommandContext
    ) -> WorkspaceGrants:
        context = scoped(context, f"grant:{workspace_id}", request)
        return await self._change(
            workspace_id, context, lambda w: w.grant(request.actor, request.access, context.actor)
        )

    async def revoke(
        self, workspace_id: UUID, actor: str, context: CommandContext
    ) -> WorkspaceGrants:
        context = scoped(context, f"revoke:{workspace_id}", actor)
        return await self._change(workspace_id, context, lambda w: w.revoke(actor, context.actor))

    async def _change(
        self, workspace_id: UUID, context: CommandContext, change: Callable[[Workspace], bool]
    ) -> WorkspaceGrants:
        if context.idempotency_key is not None:
            prior = await self._store.recall(context.idempotency_key, context.request_hash)
            if prior is not None:
                answer = grants_of(await self._load(workspace_id), prior.last_position)
                return msgspec.structs.replace(answer, duplicate=True)
        for _ in range(MAX_ATTEMPTS):
            try:
                workspace = await self._repository.checkout(workspace_id, Workspace)
            except AggregateNotFound:
                raise WorkspaceMissing(workspace_id) from None
            await require(workspace, context, "owner", self._denials)
            if not change(workspace):
                return grants_of(workspace)  # already so: nothing to record
            try:
                result = await self._repository.save(workspace, context)
            except ConcurrencyConflict:
                continue
            return grants_of(workspace, result.last_position)
        raise TooMuchContention(
            f"workspace {workspace_id} kept changing; retry with the same idempotency key"
        )

    async def _load(self, workspace_id: UUID) -> Workspace:
        try:
            return await self._repository.get(workspace_id, Workspace)
        except AggregateNotFound:
            raise WorkspaceMissing(workspace_id) from None
