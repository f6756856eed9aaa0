"""Ops views: sources and their signals, incidents, alerts, error counts per minute.

Everything is keyed on event times (`recorded_at`), so a rebuild gives the same rows.
Health is not stored: it depends on "now" (a heartbeat goes stale by itself), so the
reader derives it with `domain.ops.source_health` when asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final
from uuid import UUID

import asyncpg
import msgspec

from application.event_codec import EventCodec, event_types
from application.pages import decode_cursor, encode_cursor
from application.ports import RecordedEvent
from application.read_models import Followers
from domain.contracts import (
    IncidentPage,
    IncidentStatus,
    IncidentView,
    OpsAlertView,
    OpsOverview,
    Severity,
    SourceHealth,
)
from domain.ops import (
    DEGRADING_WINDOW,
    OPENS_INCIDENT,
    OPS_EVENTS,
    Incident,
    OpsEvent,
    SourceHeartbeat,
    incident_id,
    source_health,
)
from infrastructure.pool import DbConnection
from infrastructure.projections.checkpoints import model_position

#: Severities that become alerts and count in the error/warning windows.
ALERTING: Final = frozenset({"warning", "error", "critical"})
#: Sliding windows reported per source, at minute granularity.
WINDOWS: Final = {"1m": 1, "5m": 5, "15m": 15, "1h": 60}

_CODEC: Final = EventCodec()
#: What this projection reads; other events are skipped without decoding.
_READS: Final = event_types(*OPS_EVENTS)

_SEEN: Final = """
INSERT INTO ops_sources AS s (source, last_seen_at, last_severity, last_message)
VALUES ($1, $2, $3, $4)
ON CONFLICT (source) DO UPDATE SET last_seen_at = greatest(s.last_seen_at, EXCLUDED.last_seen_at),
    last_severity = EXCLUDED.last_severity, last_message = EXCLUDED.last_message
"""
_BEAT: Final = """
INSERT INTO ops_sources AS s (source, last_seen_at, heartbeat_at, heartbeat_status,
    heartbeat_interval_s)
VALUES ($1, $2, $2, $3, $4)
ON CONFLICT (source) DO UPDATE SET last_seen_at = greatest(s.last_seen_at, EXCLUDED.last_seen_at),
    heartbeat_at = EXCLUDED.heartbeat_at, heartbeat_status = EXCLUDED.heartbeat_status,
    heartbeat_interval_s = EXCLUDED.heartbeat_interval_s
"""
_BUCKET: Final = """
INSERT INTO ops_buckets AS b (source, minute, errors, warnings)
VALUES ($1, date_trunc('minute', $2::timestamptz), $3, $4)
ON CONFLICT (source, minute) DO UPDATE SET errors = b.errors + EXCLUDED.errors,
    warnings = b.warnings + EXCLUDED.warnings
"""
_ALERT: Final = """
INSERT INTO ops_alerts (position, source, kind, severity, message, at, attributes)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
"""
_JOIN_INCIDENT: Final = """
UPDATE ops_incidents SET events = events + 1, updated_at = $2
WHERE id = $1 AND status <> 'resolved'
"""
_OPEN: Final = """
INSERT INTO ops_incidents AS i (id, source, kind, title, severity, status, occurrence, events,
    opened_at, opened_by, updated_at)
VALUES ($1, $2, $3, $4, $5, 'open', 1, $6, $7, $8, $7)
ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, severity = EXCLUDED.severity,
    status = 'open', occurrence = i.occurrence + 1, events = EXCLUDED.events,
    opened_at = EXCLUDED.opened_at, opened_by = EXCLUDED.opened_by,
    acknowledged_at = NULL, acknowledged_by = NULL, resolved_at = NULL, resolved_by = NULL,
    note = '', updated_at = EXCLUDED.updated_at
"""
_ACK: Final = """
UPDATE ops_incidents SET status = 'acknowledged', acknowledged_at = $2, acknowledged_by = $3,
    note = $4, updated_at = $2 WHERE id = $1
"""
_RESOLVE: Final = """
UPDATE ops_incidents SET status = 'resolved', resolved_at = $2, resolved_by = $3, note = $4,
    updated_at = $2 WHERE id = $1
"""


class OpsProjection:
    name = "ops"
    version = 1
    tables = ("ops_sources", "ops_buckets", "ops_alerts", "ops_incidents")
    ddl = (
        """CREATE TABLE IF NOT EXISTS ops_sources (
            source text PRIMARY KEY, last_seen_at timestamptz,
            last_severity text, last_message text,
            heartbeat_at timestamptz, heartbeat_status text,
            heartbeat_interval_s double precision)""",
        """CREATE TABLE IF NOT EXISTS ops_buckets (
            source text NOT NULL, minute timestamptz NOT NULL,
            errors integer NOT NULL, warnings integer NOT NULL,
            PRIMARY KEY (source, minute))""",
        """CREATE TABLE IF NOT EXISTS ops_alerts (
            position bigint PRIMARY KEY, source text NOT NULL, kind text NOT NULL,
            severity text NOT NULL, message text NOT NULL, at timestamptz NOT NULL,
            attributes jsonb NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS ops_incidents (
            id uuid PRIMARY KEY, source text NOT NULL, kind text NOT NULL, title text NOT NULL,
            severity text NOT NULL, status text NOT NULL, occurrence integer NOT NULL,
            events integer NOT NULL, opened_at timestamptz NOT NULL, opened_by text NOT NULL,
            acknowledged_at timestamptz, acknowledged_by text,
            resolved_at timestamptz, resolved_by text, note text NOT NULL DEFAULT '',
            updated_at timestamptz NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS ops_incidents_by_status ON ops_incidents (status, opened_at)",
    )

    async def apply(self, conn: DbConnection, events: Sequence[RecordedEvent]) -> None:
        for record in events:
            if record.event_type in _READS:
                await self._fold(conn, record, _CODEC.decode(record))

    async def _fold(self, conn: DbConnection, record: RecordedEvent, event: object) -> None:
        at = record.recorded_at
        if isinstance(event, OpsEvent.Reported):
            severity, source = event.severity, event.source
            await conn.execute(_SEEN, source, at, severity, event.message)
            if severity in ALERTING:
                errors = int(severity in OPENS_INCIDENT)
                await conn.execute(_BUCKET, source, at, errors, 1 - errors)
                await conn.execute(
                    _ALERT,
                    record.position,
                    source,
                    event.kind,
                    severity,
                    event.message,
                    at,
                    msgspec.json.encode(event.attributes).decode(),
                )
            if severity in OPENS_INCIDENT:
                await conn.execute(_JOIN_INCIDENT, incident_id(source, event.kind), at)
        elif isinstance(event, SourceHeartbeat.Beat):
            await conn.execute(_BEAT, event.source, at, event.status, event.interval_seconds)
        elif isinstance(event, Incident.Opened | Incident.Reopened):
            source, incident_kind = await self._incident_key(conn, record, event)
            await conn.execute(
                "INSERT INTO ops_sources (source) VALUES ($1) ON CONFLICT DO NOTHING", source
            )
            await conn.execute(
                _OPEN,
                record.stream_id,
                source,
                incident_kind,
                event.title,
                event.severity,
                int(event.cause_id is not None),
                at,
                event.by,
            )
        elif isinstance(event, Incident.Acknowledged):
            await conn.execute(_ACK, record.stream_id, at, event.by, event.note)
        elif isinstance(event, Incident.Resolved):
            await conn.execute(_RESOLVE, record.stream_id, at, event.by, event.note)

    async def _incident_key(
        self,
        conn: DbConnection,
        record: RecordedEvent,
        event: Incident.Opened | Incident.Reopened,
    ) -> tuple[str, str]:
        if isinstance(event, Incident.Opened):  # Reopened finds the row it reopens
            return event.source, event.kind
        row = await conn.fetchrow(
            "SELECT source, kind FROM ops_incidents WHERE id = $1", record.stream_id
        )
        assert row is not None, f"Reopened before Opened for incident {record.stream_id}"
        return row["source"], row["kind"]


# -- reading -------------------------------------------------------------------------------

_INCIDENT_COLUMNS: Final = (
    "id, source, kind, title, severity, status, occurrence, events, opened_at, opened_by, "
    "acknowledged_at, acknowledged_by, resolved_at, resolved_by, note"
)


_INCIDENTS: Final = f"""
SELECT {_INCIDENT_COLUMNS}, updated_at FROM vibehq_read.ops_incidents
WHERE ($1::text IS NULL OR status = $1)
  AND ($2::timestamptz IS NULL OR (updated_at, id) < ($2, $3))
ORDER BY updated_at DESC, id DESC LIMIT $4
"""


async def open_incident_count(pool: asyncpg.Pool) -> int:
    """Incidents open or acknowledged (for the metrics page)."""
    count: int = await pool.fetchval(
        "SELECT count(*) FROM vibehq_read.ops_incidents WHERE status <> 'resolved'"
    )
    return count


class PostgresOpsViews:
    """Implements `application.read_models.OpsViews`."""

    def __init__(self, pool: asyncpg.Pool, followers: Followers) -> None:
        self._pool = pool
        self._followers = followers

    async def overview(self, now: datetime) -> OpsOverview:
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            sources = await conn.fetch("SELECT * FROM vibehq_read.ops_sources ORDER BY source")
            buckets = await conn.fetch(
                "SELECT source, minute, errors, warnings FROM vibehq_read.ops_buckets "
                "WHERE minute >= date_trunc('minute', $1::timestamptz) - interval '59 minutes'",
                now,
            )
            incidents = await conn.fetch(
                f"SELECT {_INCIDENT_COLUMNS} FROM vibehq_read.ops_incidents "
                "WHERE status <> 'resolved' ORDER BY opened_at"
            )
            alerts = await conn.fetch(
                "SELECT * FROM vibehq_read.ops_alerts ORDER BY position DESC LIMIT 20"
            )
        open_incidents = [_incident(row) for row in incidents]
        return OpsOverview(
            generated_at=now,
            sources=[_health(row, buckets, open_incidents, now) for row in sources],
            open_incidents=open_incidents,
            recent_alerts=[
                OpsAlertView(
                    position=row["position"],
                    source=row["source"],
                    kind=row["kind"],
                    severity=row["severity"],
                    message=row["message"],
                    at=row["at"],
                    attributes=msgspec.json.decode(row["attributes"]),
                )
                for row in alerts
            ],
            followers=await self._followers.lags(),
        )

    async def incidents(
        self, *, status: IncidentStatus | None, limit: int, cursor: str | None
    ) -> IncidentPage:
        after: tuple[Any, ...] = (None, None)
        if cursor:
            after = decode_cursor(cursor, tuple[datetime, UUID])
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            rows = await conn.fetch(_INCIDENTS, status, *after, limit + 1)
            position = await model_position(conn, OpsProjection.name)
        items = [_incident(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor(rows[limit - 1]["updated_at"], items[-1].id)
        return IncidentPage(items=items, next_cursor=next_cursor, as_of_position=position)

    async def incident(self, incident: UUID) -> IncidentView | None:
        row = await self._pool.fetchrow(
            f"SELECT {_INCIDENT_COLUMNS} FROM vibehq_read.ops_incidents WHERE id = $1", incident
        )
        return _incident(row) if row else None


def _incident(row: asyncpg.Record) -> IncidentView:
    return IncidentView(**{k: v for k, v in row.items() if k != "updated_at"})


def _health(
    row: asyncpg.Record,
    buckets: Sequence[asyncpg.Record],
    open_incidents: list[IncidentView],
    now: datetime,
) -> SourceHealth:
    source = row["source"]
    minute = now.replace(second=0, microsecond=0)
    mine = [b for b in buckets if b["source"] == source]

    def window(column: str, minutes: int) -> int:
        start = minute - timedelta(minutes=minutes - 1)
        return sum(b[column] for b in mine if b["minute"] >= start)

    worst: Severity | None = None
    for incident in open_incidents:
        if incident.source == source and (worst is None or incident.severity == "critical"):
            worst = incident.severity
    health, reason = source_health(
        now=now,
        heartbeat_at=row["heartbeat_at"],
        heartbeat_status=row["heartbeat_status"],
        heartbeat_interval_seconds=row["heartbeat_interval_s"],
        last_seen_at=row["last_seen_at"],
        recent_errors=window("errors", int(DEGRADING_WINDOW.total_seconds() // 60)),
        open_incident_severity=worst,
    )
    return SourceHealth(
        source=source,
        health=health,
        reason=reason,
        last_heartbeat_at=row["heartbeat_at"],
        last_seen_at=row["last_seen_at"],
        errors={name: window("errors", minutes) for name, minutes in WINDOWS.items()},
        warnings={name: window("warnings", minutes) for name, minutes in WINDOWS.items()},
    )
