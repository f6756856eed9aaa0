"""The workspace list: one row per workspace, what `GET /workspaces` pages through.

A row holds what `WorkspaceSummary` shows (name, creator, version, file count and
bytes, patches applied and rejected, archived), folded from the workspace's own events:
each outcome moves the version, and the file counters move by what its changes added
and removed. Times are the events' own timestamps (what the aggregate, and so
`GET /workspaces/{id}`, shows), never `now()`, so a rebuild gives the same rows.
`workspace_grants` holds who besides its creator may see a workspace, so a page shows
each caller only the workspaces it owns or was granted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import asyncpg

from application.event_codec import EventCodec, event_types
from application.pages import decode_cursor, encode_cursor
from application.ports import RecordedEvent
from domain.contracts import FileChange, WorkspacePage, WorkspaceSummary
from domain.workspace import WORKSPACE_EVENTS, Workspace
from infrastructure.pool import DbConnection
from infrastructure.projections.checkpoints import model_position

_CODEC: Final = EventCodec()
_READS: Final = event_types(*WORKSPACE_EVENTS)

_CREATE: Final = """
INSERT INTO workspaces (id, name, created_by, created_at, modified_at, version, last_position)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[],
                     $4::timestamptz[], $5::bigint[], $6::bigint[])
ON CONFLICT (id) DO NOTHING
"""
_MOVE: Final = """
UPDATE workspaces w SET
    version = greatest(w.version, u.version),
    modified_at = greatest(w.modified_at, u.modified_at),
    file_count = w.file_count + u.files,
    total_bytes = w.total_bytes + u.bytes,
    patches_applied = w.patches_applied + u.applied,
    patches_rejected = w.patches_rejected + u.rejected,
    archived = w.archived OR u.archived,
    last_position = greatest(w.last_position, u.position)
FROM unnest($1::uuid[], $2::bigint[], $3::timestamptz[], $4::bigint[], $5::bigint[],
            $6::int[], $7::int[], $8::bool[], $9::bigint[])
    AS u(id, version, modified_at, files, bytes, applied, rejected, archived, position)
WHERE w.id = u.id
"""


@dataclass
class _Move:
    """A workspace's change over a batch, summed so a batch costs two statements."""

    version: int
    modified_at: datetime
    position: int
    files: int = 0
    bytes: int = 0
    applied: int = 0
    rejected: int = 0
    archived: bool = False


@dataclass
class _Batch:
    created: list[tuple[UUID, str, str, datetime, int, int]] = field(default_factory=list)
    moves: dict[UUID, _Move] = field(default_factory=dict)
    #: (workspace, actor) -> its access now, or None once revoked; the batch's last word.
    grants: dict[tuple[UUID, str], str | None] = field(default_factory=dict)

    def move(self, record: RecordedEvent, at: datetime) -> _Move:
        move = self.moves.get(record.stream_id)
        if move is None:
            move = self.moves[record.stream_id] = _Move(record.stream_version, at, record.position)
        move.version = max(move.version, record.stream_version)
        move.modified_at = max(move.modified_at, at)
        move.position = max(move.position, record.position)
        return move


class WorkspaceListProjection:
    name = "workspaces"
    version = 2
    tables = ("workspaces", "workspace_grants")
    ddl = (
        """CREATE TABLE IF NOT EXISTS workspaces (
            id uuid PRIMARY KEY, name text NOT NULL, created_by text NOT NULL,
            created_at timestamptz NOT NULL, modified_at timestamptz NOT NULL,
            version bigint NOT NULL, archived boolean NOT NULL DEFAULT false,
            file_count bigint NOT NULL DEFAULT 0, total_bytes bigint NOT NULL DEFAULT 0,
            patches_applied bigint NOT NULL DEFAULT 0,
            patches_rejected bigint NOT NULL DEFAULT 0,
            last_position bigint NOT NULL)""",
        """CREATE INDEX IF NOT EXISTS workspaces_recent
            ON workspaces (created_at DESC, id DESC)""",
        "CREATE INDEX IF NOT EXISTS workspaces_by_name ON workspaces (name)",
        """CREATE TABLE IF NOT EXISTS workspace_grants (
            workspace_id uuid NOT NULL, actor text NOT NULL, access text NOT NULL,
            PRIMARY KEY (actor, workspace_id))""",
    )

    async def apply(self, conn: DbConnection, events: Sequence[RecordedEvent]) -> None:
        batch = _Batch()
        for record in events:
            if record.event_type in _READS:
                event = _CODEC.decode(record)
                assert isinstance(event, Workspace.Event)
                _fold(batch, record, event)
        if batch.created:
            columns = list(zip(*batch.created, strict=True))
            await conn.execute(_CREATE, *columns)
        if batch.moves:
            ids = list(batch.moves)
            moves = [batch.moves[i] for i in ids]
            await conn.execute(
                _MOVE,
                ids,
                [m.version for m in moves],
                [m.modified_at for m in moves],
                [m.files for m in moves],
                [m.bytes for m in moves],
                [m.applied for m in moves],
                [m.rejected for m in moves],
                [m.archived for m in moves],
                [m.position for m in moves],
            )
        if batch.grants:
            await _write_grants(conn, batch.grants)


def _fold(batch: _Batch, record: RecordedEvent, event: Workspace.Event) -> None:
    if isinstance(event, Workspace.Created):
        batch.created.append(
            (
                record.stream_id,
                event.name,
                event.created_by,
                event.timestamp,
                record.stream_version,
                record.position,
            )
        )
        return
    move = batch.move(record, event.timestamp)
    if isinstance(event, Workspace.PatchApplied | Workspace.PatchReverted):
        move.applied += 1
        for change in event.changes:
            files, size = _counts(change)
            move.files += files
            move.bytes += size
    elif isinstance(event, Workspace.PatchRejected):
        move.rejected += 1
    elif isinstance(event, Workspace.Archived):
        move.archived = True
    elif isinstance(event, Workspace.AccessGranted):
        batch.grants[(record.stream_id, event.actor)] = event.access
    elif isinstance(event, Workspace.AccessRevoked):
        batch.grants[(record.stream_id, event.actor)] = None


async def _write_grants(conn: DbConnection, grants: dict[tuple[UUID, str], str | None]) -> None:
    kept = [(ws, actor, access) for (ws, actor), access in grants.items() if access]
    gone = [(ws, actor) for (ws, actor), access in grants.items() if access is None]
    if kept:
        await conn.executemany(
            "INSERT INTO workspace_grants (workspace_id, actor, access) VALUES ($1, $2, $3) "
            "ON CONFLICT (actor, workspace_id) DO UPDATE SET access = EXCLUDED.access",
            kept,
        )
    if gone:
        await conn.executemany(
            "DELETE FROM workspace_grants WHERE workspace_id = $1 AND actor = $2", gone
        )


def _counts(change: FileChange) -> tuple[int, int]:
    """How a change moves the workspace's file count and total bytes."""
    files = (change.after is not None) - (change.before is not None)
    size = (change.after.size if change.after else 0) - (change.before.size if change.before else 0)
    return files, size


# -- reading -------------------------------------------------------------------------------

_COLUMNS: Final = (
    "id, name, version, created_by, created_at, modified_at, archived, file_count, "
    "total_bytes, patches_applied, patches_rejected"
)
_PAGE: Final = f"""
SELECT {_COLUMNS} FROM vibehq_read.workspaces w
WHERE ($1::text IS NULL OR name = $1) AND ($2::text IS NULL OR created_by = $2)
  AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
  AND ($6::text IS NULL OR created_by = $6 OR EXISTS (
       SELECT 1 FROM vibehq_read.workspace_grants g WHERE g.actor = $6 AND g.workspace_id = w.id))
ORDER BY created_at DESC, id DESC LIMIT $5
"""
_WITH_PREFIX: Final = """
SELECT id FROM vibehq_read.workspaces WHERE id BETWEEN $1 AND $2 ORDER BY id LIMIT $3
"""


class PostgresWorkspaceList:
    """Implements `application.read_models.WorkspaceList`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def page(
        self,
        *,
        name: str | None,
        created_by: str | None,
        limit: int,
        cursor: str | None,
        visible_to: str | None = None,
    ) -> WorkspacePage:
        after: tuple[Any, ...] = (None, None)
        if cursor:
            after = decode_cursor(cursor, tuple[datetime, UUID])
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            rows = await conn.fetch(_PAGE, name, created_by, *after, limit + 1, visible_to)
            position = await model_position(conn, WorkspaceListProjection.name)
        items = [WorkspaceSummary(**dict(row)) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor(items[-1].created_at, items[-1].id)
        return WorkspacePage(items=items, next_cursor=next_cursor, as_of_position=position)

    async def with_prefix(self, low: UUID, high: UUID, limit: int) -> list[UUID]:
        """Workspace ids between `low` and `high` (the range a short prefix spans)."""
        rows = await self._pool.fetch(_WITH_PREFIX, low, high, limit)
        return [row["id"] for row in rows]
