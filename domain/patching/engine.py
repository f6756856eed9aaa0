"""Apply a patch's operations to a file tree: all of them, or none.

The working copy and the plan live in `working_tree.py`; here are the operations.

Operations run in order against a working copy, so an operation sees the effect of
the ones before it (write, then edit the same file). The result is the net change
per path, compared with the tree the patch started from, plus the new contents to
store. Any failure raises `PatchRejection` naming the operation; the input tree is
never modified.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Final

from domain.contracts import (
    ApplyDiff,
    ApplyPatch,
    CreateFile,
    DeleteFile,
    EditFile,
    FileMode,
    PatchOperation,
    RenameFile,
    WriteFile,
)
from domain.patching.files import FileChange, FileEntry
from domain.patching.limits import PatchLimits
from domain.patching.patch_text import parse_patch, paths_of
from domain.patching.paths import check_path
from domain.patching.rejection import PatchRejection
from domain.patching.search_replace import apply_edits
from domain.patching.text import decode_text
from domain.patching.unified_diff import apply_hunks, parse_diff
from domain.patching.working_tree import PatchPlan, Slot, Tree, WorkingTree

__all__ = [
    "PatchPlan",
    "Tree",
    "contents_needed",
    "operation_paths",
    "patch_bytes",
    "plan_patch",
    "take_changes",
]

DEFAULT_MODE: Final[FileMode] = "100644"


def operation_paths(operation: PatchOperation) -> set[str]:
    """The paths an operation names (for `apply_patch`, every file of its text; a text
    that does not parse names none, and is refused when the patch is planned)."""
    if isinstance(operation, ApplyPatch):
        try:
            return paths_of(parse_patch(operation.patch))
        except PatchRejection:
            return set()
    return {operation.path, getattr(operation, "to", "")} - {""}


def contents_needed(tree: Tree, operations: Sequence[PatchOperation]) -> set[str]:
    """Blob hashes the engine will read: every existing file an operation names."""
    return {
        entry.sha256
        for operation in operations
        for path in operation_paths(operation)
        if (entry := tree.get(path)) is not None
    }


def take_changes(files: dict[str, FileEntry], changes: Sequence[FileChange]) -> None:
    """Bring `files` to the state after a patch, given the patch's net changes.

    The result does not depend on the order the changes are listed in: the files that
    renames moved away leave first, then deleted paths, then every other path takes its
    new entry. So a swap (a -> b, b -> a) or a path renamed away and written again in
    the same patch end as the patch meant, and so does a revert's inverse list.
    """
    for change in changes:
        if change.renamed_from:
            files.pop(change.renamed_from, None)
    for change in changes:
        if change.after is None:
            files.pop(change.path, None)
    for change in changes:
        if change.after is not None:
            files[change.path] = change.after


def plan_patch(
    tree: Tree,
    operations: Sequence[PatchOperation],
    contents: Mapping[str, bytes],
    limits: PatchLimits,
) -> PatchPlan:
    """Apply `operations` to `tree`; `contents` maps the hashes `contents_needed` named."""
    _check_size(operations, limits)
    work = WorkingTree(tree, contents, limits)
    for index, operation in enumerate(operations):
        work.operation = index
        try:
            _apply(work, operation)
        except PatchRejection as rejection:
            raise rejection.at(index) from None
    return work.plan()


def patch_bytes(operations: Sequence[PatchOperation]) -> int:
    """How many bytes of content the operations carry (what `max_patch_bytes` limits)."""
    total = 0
    for operation in operations:
        if isinstance(operation, CreateFile | WriteFile):
            total += len(operation.content)
        elif isinstance(operation, EditFile):
            total += sum(len(edit.search) + len(edit.replace) for edit in operation.edits)
        elif isinstance(operation, ApplyDiff):
            total += len(operation.diff)
        elif isinstance(operation, ApplyPatch):
            total += len(operation.patch)
    return total


def _check_size(operations: Sequence[PatchOperation], limits: PatchLimits) -> None:
    if len(operations) > limits.max_operations:
        raise PatchRejection(
            "limit_exceeded",
            f"the patch has {len(operations)} operations; the limit is {limits.max_operations}",
        )
    total = patch_bytes(operations)
    if total > limits.max_patch_bytes:
        raise PatchRejection(
            "limit_exceeded",
            f"the patch carries {total} bytes of content; the limit is {limits.max_patch_bytes}",
        )


# -- one function per operation ------------------------------------------------------------


def _decode_content(content: str, encoding: str, path: str) -> bytes:
    try:
        if encoding == "base64":
            return base64.b64decode(content, validate=True)
        return content.encode("utf-8")
    except (binascii.Error, UnicodeEncodeError) as error:
        raise PatchRejection(
            "invalid_content", f"content of {path} is not valid {encoding}: {error}", path=path
        ) from None


def _text_of(work: WorkingTree, path: str) -> tuple[str, Slot]:
    slot = work.existing(path)
    text = decode_text(work.content(slot))
    if text is None:
        raise PatchRejection(
            "binary_file",
            f"{path} is binary; edit it with write_file and base64 content",
            path=path,
        )
    return text, slot


def _create(work: WorkingTree, op: CreateFile) -> None:
    check_path(op.path, work.limits)
    content = _decode_content(op.content, op.encoding, op.path)
    if work.get(op.path) is not None:
        raise PatchRejection(
            "file_exists", f"{op.path} already exists; use write_file to replace it", path=op.path
        )
    work.put(op.path, content, op.mode)


def _write(work: WorkingTree, op: WriteFile) -> None:
    check_path(op.path, work.limits)
    work.put(op.path, _decode_content(op.content, op.encoding, op.path), op.mode)


def _edit(work: WorkingTree, op: EditFile) -> None:
    check_path(op.path, work.limits)
    if work.get(op.path) is None and all(edit.search == "" for edit in op.edits):
        text, mode = "", DEFAULT_MODE  # an empty search creates the file (docs/patches.md)
    else:
        text, slot = _text_of(work, op.path)
        mode = slot.mode
    result, notes = apply_edits(text, op.edits, op.path)
    work.note(op.path, notes)
    work.put(op.path, result.encode("utf-8"), mode)


def _diff(work: WorkingTree, op: ApplyDiff) -> None:
    check_path(op.path, work.limits)
    parsed = parse_diff(op.diff, op.path)
    slot = work.get(op.path)
    mode: FileMode = DEFAULT_MODE
    if slot is None:
        # Only `--- /dev/null` creates; a diff of added lines alone may fill a new file.
        if parsed.deletes or not (parsed.creates or all(not h.old for h in parsed.hunks)):
            raise PatchRejection(
                "file_missing",
                f"{op.path} does not exist and the diff does not create it",
                path=op.path,
            )
        text = ""
    else:
        if parsed.creates:
            raise PatchRejection(
                "file_exists", f"the diff creates {op.path}, which already exists", path=op.path
            )
        text, slot = _text_of(work, op.path)
        mode = slot.mode
    result, notes = apply_hunks(text, parsed.hunks, op.path)
    work.note(op.path, notes)
    if parsed.deletes:
        if result:
            raise PatchRejection(
                "hunk_failed",
                f"the diff deletes {op.path}, but lines would remain after its hunks",
                path=op.path,
            )
        work.remove(op.path)
        return
    work.put(op.path, result.encode("utf-8"), mode)


def _patch(work: WorkingTree, op: ApplyPatch) -> None:
    work.keep_source(op.patch)
    for step in parse_patch(op.patch):
        check_path(step.path, work.limits)
        if step.move_to is not None:
            check_path(step.move_to, work.limits)
        if step.kind == "add":
            if work.get(step.path) is not None:
                raise PatchRejection(
                    "file_exists",
                    f"the patch adds {step.path}, which already exists (it is never overwritten)",
                    path=step.path,
                )
            work.put(step.path, step.content.encode("utf-8"), step.mode or DEFAULT_MODE)
            continue
        text, slot = _text_of(work, step.path)
        result, notes = apply_hunks(text, step.hunks, step.path) if step.hunks else (text, [])
        work.note(step.path, notes)
        if step.kind == "delete":
            if step.hunks and result:
                raise PatchRejection(
                    "hunk_failed",
                    f"the patch deletes {step.path}, but lines would remain after its hunks",
                    path=step.path,
                )
            work.remove(step.path)
            continue
        target = step.move_to or step.path
        if step.move_to is not None:
            if work.get(step.move_to) is not None:
                raise PatchRejection(
                    "file_exists",
                    f"the patch moves {step.path} onto {step.move_to}, which exists",
                    path=step.move_to,
                )
            work.move(step.path, step.move_to)
        work.put(target, result.encode("utf-8"), step.mode or slot.mode)


def _delete(work: WorkingTree, op: DeleteFile) -> None:
    check_path(op.path, work.limits)
    work.remove(op.path)


def _rename(work: WorkingTree, op: RenameFile) -> None:
    check_path(op.path, work.limits)
    check_path(op.to, work.limits)
    work.existing(op.path)
    if work.get(op.to) is not None:
        raise PatchRejection(
            "file_exists", f"cannot rename {op.path} to {op.to}: {op.to} exists", path=op.to
        )
    work.move(op.path, op.to)


def _apply(work: WorkingTree, operation: PatchOperation) -> None:
    match operation:
        case CreateFile():
            _create(work, operation)
        case WriteFile():
            _write(work, operation)
        case EditFile():
            _edit(work, operation)
        case ApplyDiff():
            _diff(work, operation)
        case DeleteFile():
            _delete(work, operation)
        case RenameFile():
            _rename(work, operation)
        case ApplyPatch():
            _patch(work, operation)
