"""Delivery reports as a reader may see them, from the `delivery` projection's tables.

A row (task, factory) counts in its task's report when its factory owns the task or
may write it, or the task has no owner. A reader sees the counted rows of the tasks
it owns or was granted, and its own rows anywhere; an admin sees every counted row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import asyncpg
import msgspec

from application.pages import decode_cursor, encode_cursor
from domain.contracts import (
    Delivery,
    DeliveryReport,
    DeliveryReportPage,
    DeliveryStatus,
    FactoryDelivery,
    ReportedCheck,
)
from domain.delivery import task_status
from infrastructure.projections.checkpoints import model_position
from infrastructure.projections.delivery import DeliveryProjection

_REPORT_COLUMNS: Final = """
r.task_id, r.factory, r.status, r.patches_applied, r.patches_rejected, r.patches_reverted,
r.lines_added, r.lines_removed, r.first_activity, r.last_activity, r.delivery,
ARRAY(SELECT w.workspace_id FROM vibehq_read.delivery_workspaces w
      WHERE w.task_id = r.task_id AND w.factory = r.factory
      ORDER BY w.first_position, w.workspace_id) AS workspaces,
(SELECT count(*) FROM vibehq_read.delivery_files f
 WHERE f.task_id = r.task_id AND f.factory = r.factory) AS files_touched,
(SELECT coalesce(json_agg(json_build_object(
    'name', c.name, 'status', c.status, 'duration_ms', c.duration_ms, 'summary', c.summary,
    'reported_at', c.reported_at, 'runs', c.runs, 'patch_id', c.patch_id) ORDER BY c.name),
    '[]') FROM vibehq_read.delivery_checks c
 WHERE c.task_id = r.task_id AND c.factory = r.factory) AS checks
"""


#: A row counts in its task's report if the task has no owner, or its factory owns the
#: task or may write it.
_COUNTED: Final = """
(NOT EXISTS (SELECT 1 FROM vibehq_read.task_owners o WHERE o.task_id = r.task_id)
 OR EXISTS (SELECT 1 FROM vibehq_read.task_owners o
            WHERE o.task_id = r.task_id AND o.owner = r.factory)
 OR EXISTS (SELECT 1 FROM vibehq_read.task_grants g
            WHERE g.task_id = r.task_id AND g.actor = r.factory AND g.access = 'write'))
"""


def _visible(viewer: str) -> str:
    """Rows the actor in parameter `viewer` may see (NULL: an admin, every counted row):
    its own, and the counted rows of the tasks it owns or was granted."""
    return f"""
(({viewer}::text IS NULL AND {_COUNTED}) OR r.factory = {viewer}
 OR ({_COUNTED} AND (
     EXISTS (SELECT 1 FROM vibehq_read.task_owners o
             WHERE o.task_id = r.task_id AND o.owner = {viewer})
     OR EXISTS (SELECT 1 FROM vibehq_read.task_grants g
                WHERE g.task_id = r.task_id AND g.actor = {viewer}))))
"""


class PostgresDeliveryReports:
    """Implements `application.read_models.DeliveryReports` over the live tables."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def report(self, task_id: str, *, visible_to: str | None) -> DeliveryReport | None:
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            rows = await conn.fetch(
                f"SELECT {_REPORT_COLUMNS} FROM vibehq_read.delivery_reports r "
                f"WHERE r.task_id = $1 AND {_visible('$2')} ORDER BY r.factory",
                task_id,
                visible_to,
            )
            position = await model_position(conn, DeliveryProjection.name)
        if not rows:
            return None
        factories = [_factory_delivery(row) for row in rows]
        return DeliveryReport(
            task_id=task_id,
            status=task_status([f.status for f in factories]),
            factories=factories,
            as_of_position=position,
        )

    async def page(
        self,
        *,
        factory: str | None,
        status: DeliveryStatus | None,
        since: datetime | None,
        limit: int,
        cursor: str | None,
        visible_to: str | None,
    ) -> DeliveryReportPage:
        after = decode_cursor(cursor, tuple[datetime, str, str]) if cursor else None
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            rows = await conn.fetch(
                f"SELECT {_REPORT_COLUMNS} FROM vibehq_read.delivery_reports r "
                "WHERE ($1::text IS NULL OR r.factory = $1) "
                "AND ($2::text IS NULL OR r.status = $2) "
                "AND ($3::timestamptz IS NULL OR r.last_activity >= $3) "
                "AND ($4::timestamptz IS NULL "
                "     OR (r.last_activity, r.task_id, r.factory) < ($4, $5, $6)) "
                f"AND {_visible('$8')} "
                "ORDER BY r.last_activity DESC, r.task_id DESC, r.factory DESC LIMIT $7",
                factory,
                status,
                since,
                *(after or (None, None, None)),
                limit + 1,
                visible_to,
            )
            position = await model_position(conn, DeliveryProjection.name)
        items = [_factory_delivery(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = items[-1]
            next_cursor = encode_cursor(last.last_activity, last.task_id, last.factory)
        return DeliveryReportPage(items=items, next_cursor=next_cursor, as_of_position=position)


def _factory_delivery(row: asyncpg.Record) -> FactoryDelivery:
    checks: Any = row["checks"]
    delivery: Any = row["delivery"]
    return FactoryDelivery(
        task_id=row["task_id"],
        factory=row["factory"],
        status=row["status"],
        patches_applied=row["patches_applied"],
        patches_rejected=row["patches_rejected"],
        patches_reverted=row["patches_reverted"],
        files_touched=row["files_touched"],
        lines_added=row["lines_added"],
        lines_removed=row["lines_removed"],
        first_activity=row["first_activity"],
        last_activity=row["last_activity"],
        duration_seconds=(row["last_activity"] - row["first_activity"]).total_seconds(),
        workspaces=list(row["workspaces"]),
        checks=msgspec.json.decode(checks, type=list[ReportedCheck]),
        delivery=msgspec.json.decode(delivery, type=Delivery) if delivery else None,
    )
