"""Apply a patch's operations to a file tree: all of them, or none.

Operations run in order against a working copy, so an operation sees the effect of
the ones before it (write, then edit the same file). The result is the net change
per path, compared with the tree the patch started from, plus the new contents to
store. Any failure raises `PatchRejection` naming the operation; the input tree is
never modified.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from msgspec import Struct

from domain.contracts import (
    ApplyDiff,
    CreateFile,
    DeleteFile,
    EditFile,
    FileMode,
    PatchOperation,
    RenameFile,
    WriteFile,
)
from domain.patching.files import ChangeKind, FileChange, FileEntry, entry_for
from domain.patching.limits import PatchLimits
from domain.patching.paths import check_path, parent_folders
from domain.patching.rejection import PatchRejection
from domain.patching.search_replace import apply_edits
from domain.patching.text import decode_text, line_stats, split_lines
from domain.patching.unified_diff import apply_hunks, parse_diff

Tree = Mapping[str, FileEntry]


class PatchPlan(Struct, frozen=True):
    """What a patch does: net changes (sorted by path) and the new blobs they need."""

    changes: list[FileChange]
    blobs: dict[str, bytes]

    @property
    def lines_added(self) -> int:
        return sum(change.lines_added for change in self.changes)

    @property
    def lines_removed(self) -> int:
        return sum(change.lines_removed for change in self.changes)


def contents_needed(tree: Tree, operations: Sequence[PatchOperation]) -> set[str]:
    """Blob hashes the engine will read: every existing file an operation names."""
    needed: set[str] = set()
    for operation in operations:
        for path in (operation.path, getattr(operation, "to", None)):
            entry = tree.get(path) if path else None
            if entry is not None:
                needed.add(entry.sha256)
    return needed


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
    work = _WorkingTree(tree, contents, limits)
    for index, operation in enumerate(operations):
        try:
            _apply(work, operation)
        except PatchRejection as rejection:
            raise rejection.at(index) from None
    return work.plan()


def _check_size(operations: Sequence[PatchOperation], limits: PatchLimits) -> None:
    if len(operations) > limits.max_operations:
        raise PatchRejection(
            "limit_exceeded",
            f"the patch has {len(operations)} operations; the limit is {limits.max_operations}",
        )
    total = 0
    for operation in operations:
        if isinstance(operation, CreateFile | WriteFile):
            total += len(operation.content)
        elif isinstance(operation, EditFile):
            total += sum(len(edit.search) + len(edit.replace) for edit in operation.edits)
        elif isinstance(operation, ApplyDiff):
            total += len(operation.diff)
    if total > limits.max_patch_bytes:
        raise PatchRejection(
            "limit_exceeded",
            f"the patch carries {total} bytes of content; the limit is {limits.max_patch_bytes}",
        )


@dataclass(frozen=True)
class _Slot:
    """A file in the working copy; `content` is None until it is read or written."""

    sha256: str
    mode: FileMode
    content: bytes | None


class _WorkingTree:
    def __init__(self, base: Tree, contents: Mapping[str, bytes], limits: PatchLimits):
        self.base = base
        self.contents = contents
        self.limits = limits
        self.overlay: dict[str, _Slot | None] = {}
        self.origin: dict[str, str] = {}
        self._folders: Counter[str] | None = None

    # -- reading the working copy ------------------------------------------------------

    def get(self, path: str) -> _Slot | None:
        if path in self.overlay:
            return self.overlay[path]
        entry = self.base.get(path)
        return _Slot(entry.sha256, entry.mode, None) if entry else None

    def content(self, slot: _Slot) -> bytes:
        if slot.content is not None:
            return slot.content
        return self.contents[slot.sha256]

    def existing(self, path: str) -> _Slot:
        slot = self.get(path)
        if slot is None:
            raise PatchRejection("file_missing", f"{path} does not exist", path=path)
        return slot

    # -- changing it ---------------------------------------------------------------------

    def put(self, path: str, content: bytes, mode: FileMode) -> None:
        if len(content) > self.limits.max_file_bytes:
            raise PatchRejection(
                "limit_exceeded",
                f"{path} would be {len(content)} bytes; the limit is {self.limits.max_file_bytes}",
                path=path,
            )
        if self.get(path) is None:
            self._check_no_clash(path)
            self._count_folders(path, +1)
        self.overlay[path] = _Slot(entry_for(content, mode).sha256, mode, content)

    def move(self, source: str, target: str) -> None:
        slot = self.existing(source)
        self.remove(source)
        self._check_no_clash(target)
        self._count_folders(target, +1)
        self.overlay[target] = slot
        self.origin[target] = self.origin.pop(source, source)

    def remove(self, path: str) -> None:
        self.existing(path)
        self.overlay[path] = None
        self._count_folders(path, -1)

    def _check_no_clash(self, path: str) -> None:
        for folder in parent_folders(path):
            if self.get(folder) is not None:
                raise PatchRejection(
                    "path_conflict", f"{path} needs folder {folder}, which is a file", path=path
                )
        if self._folder_counts()[path] > 0:
            raise PatchRejection("path_conflict", f"{path} is a folder that holds files", path=path)

    def _folder_counts(self) -> Counter[str]:
        if self._folders is None:
            self._folders = Counter(
                folder for path in self._live_paths() for folder in parent_folders(path)
            )
        return self._folders

    def _live_paths(self) -> list[str]:
        paths = [path for path in self.base if self.overlay.get(path, True) is not None]
        paths += [path for path, slot in self.overlay.items() if slot and path not in self.base]
        return paths

    def _count_folders(self, path: str, delta: int) -> None:
        if self._folders is not None:
            for folder in parent_folders(path):
                self._folders[folder] += delta

    # -- the result ------------------------------------------------------------------------

    def plan(self) -> PatchPlan:
        changes: list[FileChange] = []
        blobs: dict[str, bytes] = {}
        moved_away = {source for target, source in self.origin.items() if self.overlay.get(target)}
        renamed_away = {
            source
            for target, source in self.origin.items()
            if self.overlay.get(target) and source != target and source in self.base
        }
        for path in sorted(self.overlay):
            slot = self.overlay[path]
            if slot is None:
                before = self.base.get(path)
                if before is not None and path not in moved_away:
                    changes.append(self._change(path, "deleted", before, None, None))
                continue
            content = self.content(slot)
            after = entry_for(content, slot.mode)
            source = self.origin.get(path)
            if source is not None and source != path and source in self.base:
                before = self.base[source]
                changes.append(self._change(path, "renamed", before, after, content, source))
            elif (before := self.base.get(path)) is None or path in renamed_away:
                # A path whose file was renamed away and that was written again holds a
                # new file, even if its bytes happen to equal the old one's.
                changes.append(self._change(path, "added", None, after, content))
            elif before != after:
                changes.append(self._change(path, "modified", before, after, content))
            else:
                continue
            if slot.content is not None:
                blobs[after.sha256] = content
        return PatchPlan(changes, blobs)

    def _change(
        self,
        path: str,
        kind: ChangeKind,
        before: FileEntry | None,
        after: FileEntry | None,
        after_content: bytes | None,
        renamed_from: str | None = None,
    ) -> FileChange:
        old = decode_text(self.contents[before.sha256]) if before else ""
        new = decode_text(after_content) if after_content is not None else ""
        if old is None or new is None:
            return FileChange(path, kind, before, after, renamed_from, binary=True)
        if before is not None and after is not None and before.sha256 == after.sha256:
            added, removed = 0, 0
        elif not old or not new:
            added, removed = len(split_lines(new)), len(split_lines(old))
        else:
            added, removed = line_stats(old, new)
        return FileChange(path, kind, before, after, renamed_from, added, removed)


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


def _text_of(work: _WorkingTree, path: str) -> tuple[str, _Slot]:
    slot = work.existing(path)
    text = decode_text(work.content(slot))
    if text is None:
        raise PatchRejection(
            "binary_file",
            f"{path} is binary; edit it with write_file and base64 content",
            path=path,
        )
    return text, slot


def _create(work: _WorkingTree, op: CreateFile) -> None:
    check_path(op.path, work.limits)
    content = _decode_content(op.content, op.encoding, op.path)
    if work.get(op.path) is not None:
        raise PatchRejection(
            "file_exists", f"{op.path} already exists; use write_file to replace it", path=op.path
        )
    work.put(op.path, content, op.mode)


def _write(work: _WorkingTree, op: WriteFile) -> None:
    check_path(op.path, work.limits)
    work.put(op.path, _decode_content(op.content, op.encoding, op.path), op.mode)


def _edit(work: _WorkingTree, op: EditFile) -> None:
    check_path(op.path, work.limits)
    text, slot = _text_of(work, op.path)
    work.put(op.path, apply_edits(text, op.edits, op.path).encode("utf-8"), slot.mode)


def _diff(work: _WorkingTree, op: ApplyDiff) -> None:
    check_path(op.path, work.limits)
    parsed = parse_diff(op.diff, op.path)
    slot = work.get(op.path)
    mode: FileMode = "100644"
    if slot is None:
        if not (parsed.creates or all(not hunk.old for hunk in parsed.hunks)):
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
    result = apply_hunks(text, parsed.hunks, op.path)
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


def _delete(work: _WorkingTree, op: DeleteFile) -> None:
    check_path(op.path, work.limits)
    work.remove(op.path)


def _rename(work: _WorkingTree, op: RenameFile) -> None:
    check_path(op.path, work.limits)
    check_path(op.to, work.limits)
    work.existing(op.path)
    if work.get(op.to) is not None:
        raise PatchRejection(
            "file_exists", f"cannot rename {op.path} to {op.to}: {op.to} exists", path=op.to
        )
    work.move(op.path, op.to)


def _apply(work: _WorkingTree, operation: PatchOperation) -> None:
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
