"""Who did what, when, with which token: the audit trail, read from the log itself."""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import UUID

from application.event_codec import plain_payload
from domain.contracts import TrailEntry
from infrastructure.pool import DbConnection

_TRAIL: Final = """
SELECT e.notification_id, e.recorded_at, e.actor, e.token_id, t.name AS token_name,
       t.revoked_at AS token_revoked_at, e.stream_type, e.originator_id, e.originator_version,
       e.event_type, e.correlation_id, e.state
FROM vibehq_events e LEFT JOIN vibehq_tokens t ON t.id = e.token_id
WHERE ($1::text IS NULL OR e.actor = $1)
  AND ($2::uuid IS NULL OR e.originator_id = $2)
  AND ($3::timestamptz IS NULL OR e.recorded_at >= $3)
ORDER BY e.notification_id
LIMIT $4
"""


async def audit_trail(
    conn: DbConnection,
    *,
    actor: str | None,
    stream: UUID | None,
    since: datetime | None,
    limit: int,
) -> list[TrailEntry]:
    rows = await conn.fetch(_TRAIL, actor, stream, since, limit)
    return [
        TrailEntry(
            position=row["notification_id"],
            at=row["recorded_at"],
            actor=row["actor"],
            token_id=row["token_id"],
            token_name=row["token_name"],
            token_revoked=row["token_revoked_at"] is not None,
            event_type=row["event_type"],
            stream_type=row["stream_type"],
            stream_id=row["originator_id"],
            version=row["originator_version"],
            correlation_id=row["correlation_id"],
            payload=plain_payload(row["state"]),
        )
        for row in rows
    ]
