"""The working copy a patch's operations run against, and the plan it yields.

Operations change an overlay over the tree the patch started from; `plan()` compares
the two into net changes per path (with line stats) and the new blobs to store. Folder
clashes (a path that is also a folder) are checked as paths come and go.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from msgspec import Struct

from domain.contracts import FileMode, MatchKind, Tolerance
from domain.patching.files import ChangeKind, FileChange, FileEntry, entry_for
from domain.patching.limits import PatchLimits
from domain.patching.paths import lookalike_key, parent_folders
from domain.patching.rejection import PatchRejection
from domain.patching.text import decode_text, line_stats, split_lines

Tree = Mapping[str, FileEntry]


class PatchPlan(Struct, frozen=True):
    """What a patch does: net changes (sorted by path) and the new blobs they need."""

    changes: list[FileChange]
    blobs: dict[str, bytes]
    #: Where an operation applied as meant rather than exactly as written.
    tolerances: list[Tolerance] = []
    #: sha256 of each patch text as the agent sent it (kept as a blob, for audits).
    sources: list[str] = []

    @property
    def lines_added(self) -> int:
        return sum(change.lines_added for change in self.changes)

    @property
    def lines_removed(self) -> int:
        return sum(change.lines_removed for change in self.changes)


@dataclass(frozen=True)
class Slot:
    """A file in the working copy; `content` is None until it is read or written."""

    sha256: str
    mode: FileMode
    content: bytes | None


class WorkingTree:
    def __init__(self, base: Tree, contents: Mapping[str, bytes], limits: PatchLimits):
        self.base = base
        self.contents = contents
        self.limits = limits
        self.overlay: dict[str, Slot | None] = {}
        self.origin: dict[str, str] = {}
        self._folders: Counter[str] | None = None
        self._spellings: dict[str, list[str]] | None = None
        #: The operation being applied, and where operations were applied leniently.
        self.operation = 0
        self.tolerances: list[Tolerance] = []
        self.sources: dict[str, bytes] = {}

    def keep_source(self, text: str) -> None:
        """Keep a patch text exactly as sent, stored as a blob beside the files."""
        content = text.encode("utf-8")
        self.sources[entry_for(content, "100644").sha256] = content

    def note(self, path: str, notes: Sequence[tuple[int, MatchKind, str]]) -> None:
        self.tolerances += [
            Tolerance(operation=self.operation, path=path, part=part, kind=kind, detail=detail)
            for part, kind, detail in notes
        ]

    # -- reading the working copy ------------------------------------------------------

    def get(self, path: str) -> Slot | None:
        if path in self.overlay:
            return self.overlay[path]
        entry = self.base.get(path)
        return Slot(entry.sha256, entry.mode, None) if entry else None

    def content(self, slot: Slot) -> bytes:
        if slot.content is not None:
            return slot.content
        return self.contents[slot.sha256]

    def existing(self, path: str) -> Slot:
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
            self._add_spellings(path)
        self.overlay[path] = Slot(entry_for(content, mode).sha256, mode, content)

    def move(self, source: str, target: str) -> None:
        slot = self.existing(source)
        self.remove(source)
        self._check_no_clash(target)
        self._count_folders(target, +1)
        self._add_spellings(target)
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
        index = self._spelling_index()
        for name in [*parent_folders(path), path]:
            spellings = index.get(lookalike_key(name), ())
            twin = next((t for t in spellings if t != name and self._live_name(t)), None)
            if twin is not None:
                raise PatchRejection(
                    "lookalike_path",
                    f"{path} differs from {twin} only by case or Unicode normalisation; "
                    "macOS and Windows would take them for one",
                    path=path,
                )

    def _folder_counts(self) -> Counter[str]:
        if self._folders is None:
            self._folders = Counter(
                folder for path in self._live_paths() for folder in parent_folders(path)
            )
        return self._folders

    def _spelling_index(self) -> dict[str, list[str]]:
        """Every spelling a `lookalike_key` has had in this tree; whether one is still
        live is asked when it matters (`_live_name`), so removals cost nothing."""
        if self._spellings is None:
            names = [*self._live_paths(), *self._folder_counts()]
            first = {lookalike_key(name): name for name in names}
            self._spellings = {key: [name] for key, name in first.items()}
            if len(first) < len(names):  # twins from before the rule: keep them all
                for name in names:
                    spellings = self._spellings[lookalike_key(name)]
                    if name not in spellings:
                        spellings.append(name)
        return self._spellings

    def _add_spellings(self, path: str) -> None:
        if self._spellings is not None:
            for name in [*parent_folders(path), path]:
                spellings = self._spellings.setdefault(lookalike_key(name), [])
                if name not in spellings:
                    spellings.append(name)

    def _live_name(self, name: str) -> bool:
        return self.get(name) is not None or self._folder_counts()[name] > 0

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
        blobs.update(self.sources)
        return PatchPlan(changes, blobs, self.tolerances, list(self.sources))

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
