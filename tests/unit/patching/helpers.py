"""A tiny in-memory workspace for engine tests: a tree plus the blobs behind it."""

from __future__ import annotations

from collections.abc import Sequence

from domain.contracts import PatchOperation
from domain.patching.engine import PatchPlan, contents_needed, plan_patch, take_changes
from domain.patching.files import FileEntry
from domain.patching.limits import PatchLimits


class Tree:
    def __init__(self, limits: PatchLimits | None = None) -> None:
        self.files: dict[str, FileEntry] = {}
        self.blobs: dict[str, bytes] = {}
        self.limits = limits or PatchLimits()

    def apply(self, operations: Sequence[PatchOperation]) -> PatchPlan:
        needed = contents_needed(self.files, operations)
        plan = plan_patch(self.files, operations, {h: self.blobs[h] for h in needed}, self.limits)
        self.blobs.update(plan.blobs)
        take_changes(self.files, plan.changes)
        return plan

    def read(self, path: str) -> bytes:
        return self.blobs[self.files[path].sha256]

    def snapshot(self) -> dict[str, bytes]:
        return {path: self.read(path) for path in self.files}
