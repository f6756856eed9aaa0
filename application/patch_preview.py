"""Dry runs: what a patch would do to a workspace, decided exactly as a submission is.

The workspace is loaded afresh (never the command cache's copy), the caller's write
access checked on it, the patch decided on it, and the aggregate dropped: nothing is
appended, cached or stored. The answer carries the per-file changes, how each part
matched, and the diff it would make.
"""

from __future__ import annotations

from application.access import DenialLog
from application.aggregates import AggregateNotFound, AggregateRepository, CommandContext
from application.patch_manager import WorkspaceNotFound, decide
from application.ports import BlobStore
from application.sharing import require
from application.workspace_queries import file_diff
from domain.contracts import PatchPreview, PatchSubmission
from domain.patching.engine import PatchPlan, contents_needed
from domain.patching.limits import PatchLimits
from domain.workspace import Workspace


class PatchPreviewer:
    def __init__(
        self,
        blobs: BlobStore,
        repository: AggregateRepository,
        *,
        limits: PatchLimits,
        denials: DenialLog | None = None,
    ) -> None:
        self._blobs = blobs
        self._repository = repository
        self._limits = limits
        self._denials = denials

    async def preview(self, submission: PatchSubmission, context: CommandContext) -> PatchPreview:
        """What the submission would do, for a caller who may write to the workspace."""
        try:
            workspace = await self._repository.get(submission.workspace_id, Workspace)
        except AggregateNotFound:
            raise WorkspaceNotFound(submission.workspace_id) from None
        await require(workspace, context, "write", self._denials)
        version = workspace.version
        needed = contents_needed(workspace.files, submission.operations)
        contents = await self._blobs.get_many(needed) if needed else {}
        # Decided on this copy, which is never saved.
        outcome = await decide(workspace, submission, contents, self._limits)
        if not isinstance(outcome, PatchPlan):
            return PatchPreview(
                workspace_id=submission.workspace_id,
                version=version,
                outcome="rejected",
                reason=outcome.code,
                operation=outcome.operation,
                path=outcome.path,
                detail=outcome.message,
                conflicts=list(outcome.conflicts),
            )
        known = {**contents, **outcome.blobs}
        wanted = {e.sha256 for c in outcome.changes for e in (c.before, c.after) if e}
        if missing := wanted - known.keys():
            known.update(await self._blobs.get_many(missing))
        return PatchPreview(
            workspace_id=submission.workspace_id,
            version=version,
            outcome="applied",
            changes=outcome.changes,
            lines_added=outcome.lines_added,
            lines_removed=outcome.lines_removed,
            tolerances=outcome.tolerances,
            diff="".join(
                file_diff(c.path, c.before, c.after, known, renamed_from=c.renamed_from)
                for c in outcome.changes
            ),
        )
