"""Delivery reports: what each factory did for each task, folded from the log.

Rows are keyed by (task id, factory): patches applied/rejected/reverted by that
author under that task id, the paths they touched, lines added and removed, the
latest run of each check, and the latest delivery. The status rule is the domain's
(`domain.delivery.delivery_status`); it is recomputed for every row a batch touched.

`task_owners` and `task_grants` mirror each task's owner and grants. A row counts in
its task's report when its factory may write the task (or the task has no owner); a
reader sees the counted rows of the tasks it may read, and its own rows anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import msgspec

from application.event_codec import EventCodec, event_types
from application.ports import RecordedEvent
from domain.contracts import (
    Delivery,
)
from domain.delivery import FAILING, TASK_EVENTS, Task, delivery_status
from domain.workspace import PATCH_OUTCOMES, Workspace
from infrastructure.pool import DbConnection

_CODEC: Final = EventCodec()
#: (applied, rejected, reverted) that each outcome adds to its row.
_COUNTS: Final[dict[type, tuple[int, int, int]]] = {
    Workspace.PatchApplied: (1, 0, 0),
    Workspace.PatchRejected: (0, 1, 0),
    Workspace.PatchReverted: (0, 0, 1),
}
#: What this projection reads; other events are skipped without decoding.
_READS: Final = event_types(*PATCH_OUTCOMES, *TASK_EVENTS)

_TOUCH: Final = """
INSERT INTO delivery_reports AS r (task_id, factory, patches_applied, patches_rejected,
    patches_reverted, lines_added, lines_removed, first_activity, last_activity, last_position)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (task_id, factory) DO UPDATE SET
    patches_applied = r.patches_applied + EXCLUDED.patches_applied,
    patches_rejected = r.patches_rejected + EXCLUDED.patches_rejected,
    patches_reverted = r.patches_reverted + EXCLUDED.patches_reverted,
    lines_added = r.lines_added + EXCLUDED.lines_added,
    lines_removed = r.lines_removed + EXCLUDED.lines_removed,
    first_activity = least(r.first_activity, EXCLUDED.first_activity),
    last_activity = greatest(r.last_activity, EXCLUDED.last_activity),
    last_position = greatest(r.last_position, EXCLUDED.last_position)
"""
#: A workspace joins its row once, at the position it first appeared: a row of a task
#: spread over many workspaces costs one index entry per new workspace, not a rewrite
#: of an array that grows with the task (at 450,000 workspaces that was 7.5 GB).
_WORKSPACES: Final = """
INSERT INTO delivery_workspaces (task_id, factory, workspace_id, first_position)
SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::bigint[]) ON CONFLICT DO NOTHING
"""
_FILES: Final = """
INSERT INTO delivery_files (task_id, factory, path)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING
"""
_CHECK: Final = """
INSERT INTO delivery_checks AS c (task_id, factory, name, status, duration_ms, summary,
    patch_id, reported_at, runs)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1)
ON CONFLICT (task_id, factory, name) DO UPDATE SET
    status = EXCLUDED.status, duration_ms = EXCLUDED.duration_ms, summary = EXCLUDED.summary,
    patch_id = EXCLUDED.patch_id, reported_at = EXCLUDED.reported_at, runs = c.runs + 1
"""
_DELIVER: Final = """
UPDATE delivery_reports SET delivery = $3::jsonb, delivered_at = $4
WHERE task_id = $1 AND factory = $2
"""
_OWNER: Final = """
INSERT INTO task_owners (task_id, owner) VALUES ($1, $2) ON CONFLICT DO NOTHING
"""
_GRANT: Final = """
INSERT INTO task_grants (task_id, actor, access) VALUES ($1, $2, $3)
ON CONFLICT (task_id, actor) DO UPDATE SET access = EXCLUDED.access
"""
_REVOKE: Final = "DELETE FROM task_grants WHERE task_id = $1 AND actor = $2"
_STATUS_INPUTS: Final = """
SELECT k.task_id, k.factory,
       (SELECT count(*) FROM delivery_checks c
        WHERE c.task_id = k.task_id AND c.factory = k.factory AND c.status = ANY($3::text[]))
           AS failing,
       r.delivered_at IS NOT NULL AS delivered
FROM unnest($1::text[], $2::text[]) AS k(task_id, factory)
JOIN delivery_reports r ON r.task_id = k.task_id AND r.factory = k.factory
"""
_SET_STATUS: Final = """
UPDATE delivery_reports r SET status = u.status
FROM unnest($1::text[], $2::text[], $3::text[]) AS u(task_id, factory, status)
WHERE r.task_id = u.task_id AND r.factory = u.factory AND r.status <> u.status
"""

Key = tuple[str, str]


@dataclass
class _Touch:
    """One report row's change from a batch of events, summed before it is written."""

    first_activity: datetime
    last_activity: datetime
    last_position: int
    applied: int = 0
    rejected: int = 0
    reverted: int = 0
    lines_added: int = 0
    lines_removed: int = 0
    #: Workspace -> the first position it appeared at in this batch.
    workspaces: dict[UUID, int] = field(default_factory=dict)

    def row(self, key: Key) -> tuple[Any, ...]:
        return (
            *key,
            self.applied,
            self.rejected,
            self.reverted,
            self.lines_added,
            self.lines_removed,
            self.first_activity,
            self.last_activity,
            self.last_position,
        )


@dataclass
class _Batch:
    """What a batch of events changes, gathered so that it costs a few statements.

    Folding event by event cost two to four round trips per event; under load the
    projection then fell behind the log. Sums, set unions, min/max and "the latest
    wins" give the same rows whether a run of events comes in one batch or many,
    which is what lets a rebuild equal the live model.
    """

    touches: dict[Key, _Touch] = field(default_factory=dict)
    files: dict[Key, set[str]] = field(default_factory=dict)
    checks: list[tuple[Any, ...]] = field(default_factory=list)
    deliveries: list[tuple[Any, ...]] = field(default_factory=list)
    #: Owners and grants in log order: ("owner" | "grant" | "revoke", row).
    sharing: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    def touch(self, key: Key, event: RecordedEvent, workspace: UUID | None = None) -> _Touch:
        at = event.recorded_at
        touch = self.touches.get(key)
        if touch is None:
            touch = self.touches[key] = _Touch(at, at, event.position)
        touch.first_activity = min(touch.first_activity, at)
        touch.last_activity = max(touch.last_activity, at)
        touch.last_position = max(touch.last_position, event.position)
        if workspace is not None:
            touch.workspaces.setdefault(workspace, event.position)
        return touch

    def workspace_rows(self) -> list[tuple[str, str, UUID, int]]:
        return [(*key, w, at) for key, t in self.touches.items() for w, at in t.workspaces.items()]

    def file_rows(self) -> list[tuple[str, str, str]]:
        return [(*key, path) for key, paths in self.files.items() for path in sorted(paths)]


class DeliveryProjection:
    name = "delivery"
    #: 3: a row's workspaces moved from an array column to `delivery_workspaces`.
    version = 3
    tables = (
        "delivery_reports",
        "delivery_workspaces",
        "delivery_files",
        "delivery_checks",
        "task_owners",
        "task_grants",
    )
    ddl = (
        """CREATE TABLE IF NOT EXISTS delivery_reports (
            task_id text NOT NULL, factory text NOT NULL,
            status text NOT NULL DEFAULT 'in_progress',
            patches_applied integer NOT NULL DEFAULT 0,
            patches_rejected integer NOT NULL DEFAULT 0,
            patches_reverted integer NOT NULL DEFAULT 0,
            lines_added bigint NOT NULL DEFAULT 0, lines_removed bigint NOT NULL DEFAULT 0,
            first_activity timestamptz NOT NULL, last_activity timestamptz NOT NULL,
            delivery jsonb, delivered_at timestamptz,
            last_position bigint NOT NULL,
            PRIMARY KEY (task_id, factory))""",
        """CREATE INDEX IF NOT EXISTS delivery_reports_recent
            ON delivery_reports (last_activity DESC, task_id DESC, factory DESC)""",
        """CREATE TABLE IF NOT EXISTS delivery_workspaces (
            task_id text NOT NULL, factory text NOT NULL, workspace_id uuid NOT NULL,
            first_position bigint NOT NULL,
            PRIMARY KEY (task_id, factory, workspace_id))""",
        """CREATE TABLE IF NOT EXISTS delivery_files (
            task_id text NOT NULL, factory text NOT NULL, path text NOT NULL,
            PRIMARY KEY (task_id, factory, path))""",
        """CREATE TABLE IF NOT EXISTS delivery_checks (
            task_id text NOT NULL, factory text NOT NULL, name text NOT NULL,
            status text NOT NULL, duration_ms bigint NOT NULL, summary text NOT NULL,
            patch_id uuid, reported_at timestamptz NOT NULL, runs integer NOT NULL,
            PRIMARY KEY (task_id, factory, name))""",
        """CREATE TABLE IF NOT EXISTS task_owners (
            task_id text PRIMARY KEY, owner text NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS task_grants (
            task_id text NOT NULL, actor text NOT NULL, access text NOT NULL,
            PRIMARY KEY (task_id, actor))""",
    )

    async def apply(self, conn: DbConnection, events: Sequence[RecordedEvent]) -> None:
        batch = _Batch()
        for event in events:
            _fold(batch, event)
        for change, row in batch.sharing:  # in log order: a revoke may follow its grant
            await conn.execute(_SHARING[change], *row)
        if not batch.touches:
            return
        await conn.executemany(_TOUCH, [t.row(key) for key, t in batch.touches.items()])
        for statement, new in ((_WORKSPACES, batch.workspace_rows()), (_FILES, batch.file_rows())):
            if new:  # one statement for the batch: a column of each field
                await conn.execute(statement, *zip(*new, strict=True))
        if batch.checks:
            await conn.executemany(_CHECK, batch.checks)
        if batch.deliveries:
            await conn.executemany(_DELIVER, batch.deliveries)
        keys = sorted(batch.touches)
        rows = await conn.fetch(
            _STATUS_INPUTS, [k[0] for k in keys], [k[1] for k in keys], sorted(FAILING)
        )
        statuses = [
            delivery_status(failing_checks=row["failing"], delivered=row["delivered"])
            for row in rows
        ]
        await conn.execute(
            _SET_STATUS,
            [row["task_id"] for row in rows],
            [row["factory"] for row in rows],
            statuses,
        )


_SHARING: Final = {"owner": _OWNER, "grant": _GRANT, "revoke": _REVOKE}


def _fold(batch: _Batch, record: RecordedEvent) -> None:
    if record.event_type not in _READS:
        return
    event = _CODEC.decode(record)
    if isinstance(event, Task.Opened):
        if event.created_by:
            batch.sharing.append(("owner", (event.task_id, event.created_by)))
        return
    if isinstance(event, Task.AccessGranted):
        batch.sharing.append(("grant", (event.task_id, event.actor, event.access)))
        return
    if isinstance(event, Task.AccessRevoked):
        batch.sharing.append(("revoke", (event.task_id, event.actor)))
        return
    if isinstance(event, PATCH_OUTCOMES):
        key = (event.task_id, event.author)
        changes = [] if isinstance(event, Workspace.PatchRejected) else event.changes
        touch = batch.touch(key, record, record.stream_id)
        applied, rejected, reverted = _COUNTS[type(event)]
        touch.applied += applied
        touch.rejected += rejected
        touch.reverted += reverted
        touch.lines_added += sum(c.lines_added for c in changes)
        touch.lines_removed += sum(c.lines_removed for c in changes)
        paths = [c.path for c in changes] + [c.renamed_from for c in changes if c.renamed_from]
        if paths:
            batch.files.setdefault(key, set()).update(paths)
    elif isinstance(event, Task.ChecksReported):
        key = (event.task_id, event.factory)
        batch.touch(key, record)
        for check in event.checks:
            batch.checks.append(
                (
                    *key,
                    check.name,
                    check.status,
                    check.duration_ms,
                    check.summary,
                    event.patch_id,
                    record.recorded_at,
                )
            )
    elif isinstance(event, Task.Delivered):
        key = (event.task_id, event.factory)
        batch.touch(key, record, event.workspace_id)
        delivery = Delivery(
            summary=event.summary,
            workspace_id=event.workspace_id,
            final_version=event.final_version,
            artefacts=event.artefacts,
            delivered_at=record.recorded_at,
            cost=event.cost,
        )
        batch.deliveries.append((*key, msgspec.json.encode(delivery).decode(), record.recorded_at))
