"""PatchManager: the commands that change workspaces.

Every command follows the same loop: load the workspace (snapshot + recent events),
fetch the blobs the patch engine needs, let the aggregate decide, and append its
event together with the new blobs at the version it loaded. If another command got
there first, the append fails with a ConcurrencyConflict and we decide again on the
newer state, where the rebase rule applies: the retry succeeds if the two patches
touch different files and is rejected as `stale_base` if they share one. So two
submissions at the same base never both apply silently over each other.

Idempotency keys are scoped per workspace and command; a retry with the same key
and body returns the first outcome (with `duplicate=True`) and records nothing. A
submission does not look its key up first: the append itself recognises a known key
before it checks the version, so the common case (a new key) costs no extra read.

The hot path (the same factory patching the same workspace again) reads nothing from
the store: the workspace comes from the repository's cache and the contents of the
files being rewritten from a `ContentCache`; the answer is built from the event just
appended. One round trip, the append, remains.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from typing import Final
from uuid import UUID

import msgspec

from application.access import DenialLog, own_name
from application.aggregates import AggregateNotFound, AggregateRepository, CommandContext
from application.caches import ContentCache
from application.commands import MAX_ATTEMPTS, TooMuchContention, request_hash, scoped
from application.event_codec import EventCodec
from application.patch_records import is_outcome, outcome_record, patch_record
from application.ports import AppendResult, BlobStore, ConcurrencyConflict, EventStore, Masks
from application.sharing import require
from domain.contracts import (
    NewWorkspace,
    PatchRecord,
    PatchSubmission,
    WorkspaceSummary,
)
from domain.errors import Invalid, NotFound, Refused
from domain.ids import new_id
from domain.patching.engine import PatchPlan, contents_needed, patch_bytes
from domain.patching.limits import PatchLimits
from domain.patching.rejection import PatchRejection
from domain.workspace import PATCH_OUTCOMES, Workspace


class WorkspaceNotFound(NotFound):
    def __init__(self, workspace_id: UUID) -> None:
        super().__init__(f"workspace {workspace_id} does not exist")
        self.workspace_id = workspace_id


class PatchNotFound(NotFound):
    def __init__(self, patch_id: UUID) -> None:
        super().__init__(f"patch {patch_id} does not exist")
        self.patch_id = patch_id


class NotRevertible(Refused):
    """Only applied patches (and reverts) can be reverted."""


#: Above this many bytes (patch content plus the files it reads) a patch is decided in
#: a worker thread, so that parsing, matching and counting lines never hold up the event
#: loop (every other request of the process) for long.
OFF_LOOP_BYTES: Final = 64 * 1024


async def decide(
    workspace: Workspace,
    submission: PatchSubmission,
    contents: Mapping[str, bytes],
    limits: PatchLimits,
) -> PatchPlan | PatchRejection:
    """`workspace.submit(...)`: here for a small patch, in a worker thread for a large one."""
    work = partial(
        workspace.submit,
        patch_id=new_id(),
        author=submission.author,
        task_id=submission.task_id,
        base_version=submission.base_version,
        operations=submission.operations,
        message=submission.message,
        contents=contents,
        limits=limits,
    )
    size = patch_bytes(submission.operations) + sum(len(c) for c in contents.values())
    return await asyncio.to_thread(work) if size > OFF_LOOP_BYTES else work()


class PatchManager:
    def __init__(
        self,
        store: EventStore,
        blobs: BlobStore,
        repository: AggregateRepository,
        *,
        limits: PatchLimits | None = None,
        codec: EventCodec | None = None,
        contents: ContentCache | None = None,
        denials: DenialLog | None = None,
        masks: Masks | None = None,
    ) -> None:
        self._denials = denials
        self._masks = masks
        self._store = store
        self._blobs = blobs
        self._repository = repository
        self._limits = limits or PatchLimits()
        self._codec = codec or EventCodec()
        self._contents = contents if contents is not None else ContentCache(0)

    # -- create ----------------------------------------------------------------------------

    async def create_workspace(
        self, request: NewWorkspace, context: CommandContext
    ) -> WorkspaceSummary:
        """A new workspace, with its initial files applied as its first patch."""
        await self._refuse_secrets(request.files, context, f"create workspace {request.name!r}")
        context = scoped(context, "workspace", request)
        prior = await self._recall(context)
        if prior is not None:
            return await self._summary(prior.stream_id, prior.last_version)
        workspace = Workspace(name=request.name, created_by=context.actor)
        blobs: dict[str, bytes] = {}
        if request.files:
            outcome = workspace.submit(
                patch_id=new_id(),
                author=context.actor,
                task_id=request.task_id,
                base_version=1,
                operations=list(request.files),
                message="initial files",
                contents={},
                limits=self._limits,
            )
            if not isinstance(outcome, PatchPlan):
                raise outcome
            blobs = outcome.blobs
        result = await self._repository.save(workspace, context, blobs=blobs)
        if result.duplicate:  # the same key, racing: the first one's answer
            return await self._summary(result.stream_id, result.last_version)
        self._contents.add(blobs)
        return summarise(workspace)

    async def _summary(self, workspace_id: UUID, version: int) -> WorkspaceSummary:
        """What an earlier, idempotent request answered: the workspace at its version."""
        workspace = await self._repository.get(workspace_id, Workspace, version=version)
        return msgspec.structs.replace(summarise(workspace), duplicate=True)

    # -- submit ----------------------------------------------------------------------------

    async def submit(self, submission: PatchSubmission, context: CommandContext) -> PatchRecord:
        """Apply the submission or record why not; returns the recorded outcome."""
        await self._refuse_secrets(
            submission.operations, context, f"patch workspace {submission.workspace_id}"
        )
        await own_name(
            submission.author,
            context,
            field="author",
            action=f"patch workspace {submission.workspace_id}",
            denials=self._denials,
        )
        if submission.idempotency_key is not None:
            context = msgspec.structs.replace(
                context,
                idempotency_key=f"patch:{submission.workspace_id}:{submission.idempotency_key}",
                request_hash=request_hash(submission),
            )
        for _ in range(MAX_ATTEMPTS):
            try:
                workspace = await self._checkout(submission.workspace_id)
                await require(workspace, context, "write", self._denials)
                contents = await self._contents_of(
                    contents_needed(workspace.files, submission.operations)
                )
                outcome = await decide(workspace, submission, contents, self._limits)
            except Exception:
                # Refused outright (e.g. archived since): a retry still gets its first outcome.
                prior = await self._recall(context)
                if prior is None:
                    raise
                return await self._recorded(prior)
            event = workspace.pending_events[0]
            assert isinstance(event, PATCH_OUTCOMES)
            blobs = outcome.blobs if isinstance(outcome, PatchPlan) else {}
            try:
                result = await self._repository.save(workspace, context, blobs=blobs)
            except ConcurrencyConflict:
                continue
            if result.duplicate:
                return await self._recorded(result)
            self._contents.add(blobs)
            return outcome_record(
                event,
                workspace_id=result.stream_id,
                version=result.first_version,
                position=result.first_position,
                recorded_at=result.recorded_at,
                actor=context.actor,
            )
        raise TooMuchContention(
            f"workspace {submission.workspace_id} changed {MAX_ATTEMPTS} times while this "
            "patch was being decided; retry with the same idempotency key"
        )

    # -- revert ----------------------------------------------------------------------------

    async def revert(
        self,
        patch_id: UUID,
        *,
        author: str,
        task_id: str,
        message: str,
        context: CommandContext,
    ) -> PatchRecord:
        """Record a new patch that restores what `patch_id` changed, or why it cannot."""
        await own_name(
            author, context, field="author", action=f"revert {patch_id}", denials=self._denials
        )
        target = await self._store.find_event(patch_id)
        if target is None or not is_outcome(target):
            raise PatchNotFound(patch_id)
        target_record = patch_record(target, self._codec)
        if target_record.outcome == "rejected":
            raise NotRevertible(f"patch {patch_id} was rejected; there is nothing to revert")
        if context.idempotency_key is not None:
            key = f"revert:{patch_id}:{context.idempotency_key}"
            context = msgspec.structs.replace(
                context,
                idempotency_key=key,
                request_hash=request_hash(author, task_id, message),
            )
            prior = await self._store.recall(key, context.request_hash)
            if prior is not None:
                return await self._recorded(prior)
        for _ in range(MAX_ATTEMPTS):
            workspace = await self._checkout(target.stream_id)
            await require(workspace, context, "write", self._denials)
            workspace.revert(
                patch_id=new_id(),
                author=author,
                task_id=task_id,
                target_patch_id=patch_id,
                target_version=target.stream_version,
                target_changes=target_record.changes,
                message=message,
            )
            try:
                result = await self._repository.save(workspace, context)
            except ConcurrencyConflict:
                continue
            return await self._recorded(result)
        raise TooMuchContention(f"workspace {target.stream_id} kept changing; retry the revert")

    # -- archive ---------------------------------------------------------------------------

    async def archive(self, workspace_id: UUID, context: CommandContext) -> WorkspaceSummary:
        context = scoped(context, f"archive:{workspace_id}")
        prior = await self._recall(context)
        if prior is not None:
            return await self._summary(workspace_id, prior.last_version)
        workspace = await self._load(workspace_id)
        await require(workspace, context, "owner", self._denials)
        workspace.archive(by=context.actor)
        await self._repository.save(workspace, context)
        return summarise(workspace)

    # -- helpers -----------------------------------------------------------------------------

    async def _refuse_secrets(
        self, operations: Sequence[msgspec.Struct], context: CommandContext, action: str
    ) -> None:
        """A patch must not write a secret the service holds into a file: refused (422),
        and the attempt recorded for the operators (never the value: its name)."""
        if not self._masks:  # none, or no value held: no operation need be read
            return
        for index, operation in enumerate(operations):
            for text in _texts(msgspec.to_builtins(operation)):
                name = self._masks.found_in(text)
                if name is None:
                    continue
                refusal = SecretInPatch(index, name)
                if self._denials is not None:
                    await self._denials.denied(context, action, str(refusal))
                raise refusal

    async def _load(self, workspace_id: UUID) -> Workspace:
        try:
            return await self._repository.get(workspace_id, Workspace)
        except AggregateNotFound:
            raise WorkspaceNotFound(workspace_id) from None

    async def _checkout(self, workspace_id: UUID) -> Workspace:
        """The workspace for a command that will save it (possibly cached; see caches.py)."""
        try:
            return await self._repository.checkout(workspace_id, Workspace)
        except AggregateNotFound:
            raise WorkspaceNotFound(workspace_id) from None

    async def _contents_of(self, hashes: set[str]) -> dict[str, bytes]:
        contents = self._contents.found(hashes)
        missing = hashes - contents.keys()
        if missing:
            fetched = await self._blobs.get_many(missing)
            self._contents.add(fetched)
            contents.update(fetched)
        return contents

    async def _recall(self, context: CommandContext) -> AppendResult | None:
        if context.idempotency_key is None:
            return None
        return await self._store.recall(context.idempotency_key, context.request_hash)

    async def _recorded(self, result: AppendResult) -> PatchRecord:
        """The outcome event an append (or its idempotent original) recorded."""
        records = await self._store.read_stream(
            result.stream_id, after_version=result.first_version - 1, limit=1
        )
        return patch_record(records[0], self._codec, duplicate=result.duplicate)


def summarise(workspace: Workspace) -> WorkspaceSummary:
    return WorkspaceSummary(
        id=workspace.id,
        name=workspace.name,
        version=workspace.version,
        created_by=workspace.created_by,
        created_at=workspace.created_on,
        modified_at=workspace.modified_on,
        archived=workspace.archived,
        file_count=len(workspace.files),
        total_bytes=sum(entry.size for entry in workspace.files.values()),
        patches_applied=workspace.applied_count,
        patches_rejected=workspace.rejected_count,
    )


class SecretInPatch(Invalid):
    code = "secret_in_patch"

    def __init__(self, operation: int, name: str) -> None:
        self.field = f"operations[{operation}]"
        super().__init__(
            f"operation {operation} would write the value of secret {name!r} into the "
            "workspace; refer to the secret (an env profile, a file grant) instead"
        )


def _texts(value: object) -> Iterator[str]:
    """Every string inside an operation's plain form."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
