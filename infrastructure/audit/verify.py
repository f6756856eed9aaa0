"""Verify the log in the database: the rows, the global chain, the signed checkpoints."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from application.audit import Finding, LogVerifier
from infrastructure.audit.keys import signature_valid
from infrastructure.audit.reader import audit_rows, chain_head, checkpoints, log_hash_before
from infrastructure.pool import DbConnection


async def verify_log(
    conn: DbConnection,
    *,
    trusted_key: bytes | None,
    first: int = 0,
    last: int | None = None,
    stream: UUID | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Finding], int]:
    """(problems sorted by position, events checked) for positions [first, last]."""
    if last is None:
        last = await conn.fetchval("SELECT coalesce(max(notification_id), 0) FROM vibehq_events")
        last = max(last, await chain_head(conn))
    verifier = LogVerifier(
        trusted_key=trusted_key,
        check_signature=signature_valid,
        log_hash_before=await log_hash_before(conn, first),
        chain_head=await chain_head(conn) if stream is None else 0,
    )
    async for row in audit_rows(conn, first=first, last=last, stream=stream):
        verifier.row(row)
        if progress is not None and row.event is not None and verifier.events % 500 == 0:
            progress(verifier.events)
    signed = [] if stream is not None else await checkpoints(conn, first=first, last=last)
    verifier.checkpoints(signed)
    if progress is not None:
        progress(verifier.events)
    return verifier.problems, verifier.events
