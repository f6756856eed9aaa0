"""The Workspace aggregate: a code tree that factories change by patches.

It decides; it does not fetch. The application hands it the blob contents the patch
engine needs, and the aggregate records the outcome as one event:

* `PatchApplied` - the net file changes (hashes before/after, line counts);
* `PatchRejected` - the reason code, the operation and path at fault, a message;
* `PatchReverted` - a new patch restoring what an earlier patch changed.

The workspace version is the aggregate's version: every recorded outcome counts,
rejections included, because "what happened to my submission" is part of the
workspace's history. A rejection changes no file, so rebasing over it never conflicts.

Its creator owns it. Other actors need a grant (`AccessGranted`: read, or write too);
`access_of` (domain/sharing.py) says what an actor may do; the application enforces it.

`last_changed` remembers, per path, the version that last changed it (deletions and
renames included). That is what rebase and revert need, and it keeps both O(paths
touched) instead of O(history), which is also why snapshots stay small.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.contracts import (
    FileChange,
    FileEntry,
    PatchOperation,
    PatchOutcome,
    PathConflict,
    Tolerance,
    WorkspaceAccess,
)
from domain.errors import Refused
from domain.patching.engine import PatchPlan, operation_paths, plan_patch, take_changes
from domain.patching.limits import PatchLimits
from domain.patching.rejection import PatchRejection, RejectionCode
from domain.sharing import Shared


class WorkspaceArchived(Refused):
    """The workspace is archived and accepts no more changes."""


class Workspace(Shared, Aggregate):
    """A named file tree whose version counts its recorded events."""

    noun = "workspace"

    # -- its events, typed once: readers (projections, feeds, tail) use these classes --

    class Created(Aggregate.Created):
        name: str
        created_by: str

    class PatchApplied(Aggregate.Event):
        patch_id: UUID
        author: str
        task_id: str
        base_version: int
        message: str
        operation_count: int
        changes: list[FileChange]
        #: Where the engine was lenient; events recorded before it could be have none.
        tolerances: tuple[Tolerance, ...] = ()
        #: sha256 of the blobs holding each `apply_patch` text exactly as it was sent.
        sources: tuple[str, ...] = ()

    class PatchRejected(Aggregate.Event):
        patch_id: UUID
        author: str
        task_id: str
        base_version: int
        reason: RejectionCode
        operation: int | None
        path: str | None
        message: str
        conflicts: list[PathConflict]

    class PatchReverted(Aggregate.Event):
        patch_id: UUID
        author: str
        task_id: str
        reverted_patch_id: UUID
        message: str
        changes: list[FileChange]

    class Archived(Aggregate.Event):
        by: str

    class AccessGranted(Aggregate.Event):
        actor: str
        access: WorkspaceAccess
        by: str

    class AccessRevoked(Aggregate.Event):
        actor: str
        by: str

    @event(Created)
    def __init__(self, name: str, created_by: str) -> None:
        self.name = name
        self.created_by = created_by
        self.archived = False
        self.files: dict[str, FileEntry] = {}
        self.last_changed: dict[str, int] = {}
        self.applied_count = 0
        self.rejected_count = 0

    # -- commands ------------------------------------------------------------------------

    def submit(
        self,
        *,
        patch_id: UUID,
        author: str,
        task_id: str,
        base_version: int,
        operations: Sequence[PatchOperation],
        message: str,
        contents: Mapping[str, bytes],
        limits: PatchLimits,
    ) -> PatchPlan | PatchRejection:
        """Apply the patch if it can, else record why not. Returns what was recorded."""
        self._refuse_if_archived()
        try:
            self._check_base(base_version, _touched_paths(operations))
            plan = plan_patch(self.files, operations, contents, limits)
        except PatchRejection as rejection:
            self._record_rejection(patch_id, author, task_id, base_version, rejection)
            return rejection
        self._patch_applied(
            patch_id=patch_id,
            author=author,
            task_id=task_id,
            base_version=base_version,
            message=message,
            operation_count=len(operations),
            changes=plan.changes,
            tolerances=tuple(plan.tolerances),
            sources=tuple(plan.sources),
        )
        return plan

    def revert(
        self,
        *,
        patch_id: UUID,
        author: str,
        task_id: str,
        target_patch_id: UUID,
        target_version: int,
        target_changes: Sequence[FileChange],
        message: str,
    ) -> list[FileChange] | PatchRejection:
        """Undo the file changes of the patch recorded at `target_version`.

        Refused with the paths at fault if any later patch changed one of those files:
        undoing blindly would throw away that later work.
        """
        self._refuse_if_archived()
        touched = {c.path for c in target_changes} | {
            c.renamed_from for c in target_changes if c.renamed_from
        }
        later = self._changed_after(target_version, touched)
        if later:
            rejection = PatchRejection(
                "revert_conflict",
                f"patch {target_patch_id} cannot be reverted: later versions changed "
                + ", ".join(f"{c.path} (v{c.changed_in_version})" for c in later),
                conflicts=later,
            )
            self._record_rejection(patch_id, author, task_id, target_version, rejection)
            return rejection
        changes = [_inverse(change) for change in target_changes]
        self._patch_reverted(
            patch_id=patch_id,
            author=author,
            task_id=task_id,
            reverted_patch_id=target_patch_id,
            message=message,
            changes=changes,
        )
        return changes

    def archive(self, by: str) -> None:
        """Archive once; archiving again is refused rather than recorded twice."""
        self._refuse_if_archived()
        self._archive(by)

    # -- decisions -----------------------------------------------------------------------

    def _refuse_if_archived(self) -> None:
        if self.archived:
            raise WorkspaceArchived(f"workspace {self.id} is archived")

    def _check_base(self, base_version: int, paths: set[str]) -> None:
        if base_version > self.version:
            raise PatchRejection(
                "invalid_base",
                f"base_version {base_version} is ahead of the workspace (version {self.version})",
            )
        later = self._changed_after(base_version, paths)
        if later:
            raise PatchRejection(
                "stale_base",
                f"since version {base_version}, other patches changed "
                + ", ".join(f"{c.path} (v{c.changed_in_version})" for c in later)
                + f"; rebase onto version {self.version} and resubmit",
                path=later[0].path,
                conflicts=later,
            )

    def _changed_after(self, version: int, paths: set[str]) -> tuple[PathConflict, ...]:
        return tuple(
            PathConflict(path, self.last_changed[path])
            for path in sorted(paths)
            if self.last_changed.get(path, 0) > version
        )

    def _record_rejection(
        self,
        patch_id: UUID,
        author: str,
        task_id: str,
        base_version: int,
        rejection: PatchRejection,
    ) -> None:
        self._patch_rejected(
            patch_id=patch_id,
            author=author,
            task_id=task_id,
            base_version=base_version,
            reason=rejection.code,
            operation=rejection.operation,
            path=rejection.path,
            message=rejection.message,
            conflicts=list(rejection.conflicts),
        )

    # -- events: these bodies also run on replay, so they only assign ------------------

    @event(PatchApplied)
    def _patch_applied(
        self,
        patch_id: UUID,
        author: str,
        task_id: str,
        base_version: int,
        message: str,
        operation_count: int,
        changes: list[FileChange],
        tolerances: tuple[Tolerance, ...] = (),
        sources: tuple[str, ...] = (),
    ) -> None:
        self._take_changes(changes)
        self.applied_count += 1

    @event(PatchRejected)
    def _patch_rejected(
        self,
        patch_id: UUID,
        author: str,
        task_id: str,
        base_version: int,
        reason: RejectionCode,
        operation: int | None,
        path: str | None,
        message: str,
        conflicts: list[PathConflict],
    ) -> None:
        self.rejected_count += 1

    @event(PatchReverted)
    def _patch_reverted(
        self,
        patch_id: UUID,
        author: str,
        task_id: str,
        reverted_patch_id: UUID,
        message: str,
        changes: list[FileChange],
    ) -> None:
        self._take_changes(changes)
        self.applied_count += 1

    @event(Archived)
    def _archive(self, by: str) -> None:
        self.archived = True
        self.archived_by = by

    @event(AccessGranted)
    def _granted(self, actor: str, access: WorkspaceAccess, by: str) -> None:
        self._grant_state(actor, access)

    @event(AccessRevoked)
    def _revoked(self, actor: str, by: str) -> None:
        self._revoke_state(actor)

    def _take_changes(self, changes: list[FileChange]) -> None:
        # The event is applied before eventsourcing bumps the version.
        version = self.version + 1
        take_changes(self.files, changes)
        for change in changes:
            if change.renamed_from:
                self.last_changed[change.renamed_from] = version
            self.last_changed[change.path] = version


#: Every event a workspace records, in the order a reader meets them.
WORKSPACE_EVENTS: Final = (
    Workspace.Created,
    Workspace.PatchApplied,
    Workspace.PatchRejected,
    Workspace.PatchReverted,
    Workspace.Archived,
    Workspace.AccessGranted,
    Workspace.AccessRevoked,
)
#: The events that answer "what happened to this submission", and the outcome each says.
PATCH_OUTCOMES: Final = (Workspace.PatchApplied, Workspace.PatchRejected, Workspace.PatchReverted)
OUTCOME_OF: Final[dict[type, PatchOutcome]] = {
    Workspace.PatchApplied: "applied",
    Workspace.PatchRejected: "rejected",
    Workspace.PatchReverted: "reverted",
}


def _touched_paths(operations: Sequence[PatchOperation]) -> set[str]:
    return {path for operation in operations for path in operation_paths(operation)}


def _inverse(change: FileChange) -> FileChange:
    """The change that undoes `change` (a rename is undone by renaming back)."""
    if change.renamed_from:
        return FileChange(
            path=change.renamed_from,
            change="renamed",
            before=change.after,
            after=change.before,
            renamed_from=change.path,
            lines_added=change.lines_removed,
            lines_removed=change.lines_added,
            binary=change.binary,
        )
    kind = {"added": "deleted", "deleted": "added"}.get(change.change, "modified")
    return FileChange(
        path=change.path,
        change=kind,  # type: ignore[arg-type]
        before=change.after,
        after=change.before,
        lines_added=change.lines_removed,
        lines_removed=change.lines_added,
        binary=change.binary,
    )
