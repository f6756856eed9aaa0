"""Reading workspaces: at head, at a version or a moment, one file, diffs, history.

Time travel is replay: the workspace at version N is its newest snapshot at or below
N plus the events up to N. A moment is turned into the version the stream had then.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

from application.aggregates import AggregateNotFound, AggregateRepository
from application.event_codec import EventCodec, to_envelope
from application.pages import decode_cursor, encode_cursor
from application.patch_manager import PatchNotFound, WorkspaceNotFound, summarise
from application.patch_records import is_outcome, patch_record
from application.ports import BlobStore, EventStore
from domain.contracts import (
    EventPage,
    FileEntry,
    FileListing,
    PatchOutcome,
    PatchRecord,
    PatchRecordPage,
    WorkspaceSummary,
)
from domain.errors import Invalid, NotFound
from domain.patching.text import decode_text
from domain.patching.unified_diff import unified_diff
from domain.workspace import Workspace

At = int | datetime | None


class VersionOutOfRange(Invalid):
    """A version or moment outside the workspace's history."""

    field = "at"


class FileNotInWorkspace(NotFound):
    def __init__(self, path: str, version: int) -> None:
        super().__init__(f"{path} does not exist at version {version}")
        self.path = path
        self.version = version


class WorkspaceQueries:
    def __init__(
        self,
        store: EventStore,
        blobs: BlobStore,
        repository: AggregateRepository,
        codec: EventCodec | None = None,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._repository = repository
        self._codec = codec or EventCodec()

    async def workspace(self, workspace_id: UUID, at: At = None) -> Workspace:
        head = await self._store.stream_version(workspace_id)
        if head == 0:
            raise WorkspaceNotFound(workspace_id)
        version = await self._version(workspace_id, at, head)
        try:
            return await self._repository.get(workspace_id, Workspace, version=version)
        except AggregateNotFound:
            raise WorkspaceNotFound(workspace_id) from None

    async def _version(self, workspace_id: UUID, at: At, head: int) -> int:
        if at is None:
            return head
        if isinstance(at, datetime):
            version = await self._store.version_at(workspace_id, at)
            if version == 0:
                raise VersionOutOfRange(f"workspace {workspace_id} did not exist at {at}")
            return version
        if not 1 <= at <= head:
            raise VersionOutOfRange(f"version {at} is outside 1..{head} (the current version)")
        return at

    async def summary(self, workspace_id: UUID, at: At = None) -> WorkspaceSummary:
        return summarise(await self.workspace(workspace_id, at))

    async def files(self, workspace_id: UUID, at: At = None) -> FileListing:
        workspace = await self.workspace(workspace_id, at)
        return FileListing(workspace.id, workspace.version, dict(sorted(workspace.files.items())))

    async def file(
        self, workspace_id: UUID, path: str, at: At = None
    ) -> tuple[FileEntry, bytes, int]:
        """(entry, content, version) of one file."""
        workspace = await self.workspace(workspace_id, at)
        entry = workspace.files.get(path)
        if entry is None:
            raise FileNotInWorkspace(path, workspace.version)
        content = (await self._blobs.get_many([entry.sha256]))[entry.sha256]
        return entry, content, workspace.version

    async def diff(self, workspace_id: UUID, from_version: At, to_version: At) -> str:
        """A git-style unified diff of every file that differs between two versions."""
        old = await self.workspace(workspace_id, from_version)
        new = await self.workspace(workspace_id, to_version)
        paths = sorted(
            path
            for path in old.files.keys() | new.files.keys()
            if old.files.get(path) != new.files.get(path)
        )
        hashes = {e.sha256 for p in paths for e in (old.files.get(p), new.files.get(p)) if e}
        contents = await self._blobs.get_many(hashes) if hashes else {}
        return "".join(
            file_diff(path, old.files.get(path), new.files.get(path), contents) for path in paths
        )

    async def history(
        self,
        workspace_id: UUID,
        *,
        author: str | None = None,
        task_id: str | None = None,
        outcome: PatchOutcome | None = None,
        after_version: int = 0,
        limit: int = 100,
        cursor: str | None = None,
    ) -> PatchRecordPage:
        """Patch outcomes in version order, filtered; page with `cursor` (or from a version)."""
        if cursor is not None:
            (after_version,) = decode_cursor(cursor, tuple[int])
        as_of = await self._store.head_position()
        if await self._store.stream_version(workspace_id) == 0:
            raise WorkspaceNotFound(workspace_id)
        found: list[PatchRecord] = []
        scanned = after_version
        while len(found) < limit:
            batch = await self._store.read_stream(workspace_id, after_version=scanned, limit=500)
            if not batch:
                break
            scanned = batch[-1].stream_version
            for event in batch:
                if not is_outcome(event):
                    continue
                record = patch_record(event, self._codec)
                if (
                    (author is None or record.author == author)
                    and (task_id is None or record.task_id == task_id)
                    and (outcome is None or record.outcome == outcome)
                ):
                    found.append(record)
                    if len(found) == limit:
                        break
        more = len(found) == limit
        return PatchRecordPage(
            items=found,
            next_cursor=encode_cursor(found[-1].version) if more else None,
            as_of_position=as_of,
        )

    async def patch(self, patch_id: UUID) -> PatchRecord:
        event = await self._store.find_event(patch_id)
        if event is None or not is_outcome(event):
            raise PatchNotFound(patch_id)
        return patch_record(event, self._codec)

    async def events(
        self,
        workspace_id: UUID,
        *,
        after_version: int = 0,
        limit: int = 100,
        cursor: str | None = None,
    ) -> EventPage:
        """The workspace's events in version order; page with `cursor` (or from a version)."""
        if cursor is not None:
            (after_version,) = decode_cursor(cursor, tuple[int])
        as_of = await self._store.head_position()
        if await self._store.stream_version(workspace_id) == 0:
            raise WorkspaceNotFound(workspace_id)
        records = await self._store.read_stream(
            workspace_id, after_version=after_version, limit=limit
        )
        more = len(records) == limit
        return EventPage(
            items=[to_envelope(record) for record in records],
            next_cursor=encode_cursor(records[-1].stream_version) if more else None,
            as_of_position=as_of,
        )


def file_diff(
    path: str,
    before: FileEntry | None,
    after: FileEntry | None,
    contents: Mapping[str, bytes],
    renamed_from: str | None = None,
) -> str:
    """One file's git-style diff (a rename says so, as `git diff -M` does)."""
    source = renamed_from or path
    old_name = f"a/{source}" if before else "/dev/null"
    new_name = f"b/{path}" if after else "/dev/null"
    header = f"diff --git a/{source} b/{path}\n"
    if renamed_from:
        header += f"rename from {renamed_from}\nrename to {path}\n"
    if before is None and after is not None:
        header += f"new file mode {after.mode}\n"
    elif after is None and before is not None:
        header += f"deleted file mode {before.mode}\n"
    elif before is not None and after is not None and before.mode != after.mode:
        header += f"old mode {before.mode}\nnew mode {after.mode}\n"
    old = decode_text(contents[before.sha256]) if before else ""
    new = decode_text(contents[after.sha256]) if after else ""
    if old is None or new is None:
        return header + f"Binary files {old_name} and {new_name} differ\n"
    return header + unified_diff(old, new, old_name=old_name, new_name=new_name)
