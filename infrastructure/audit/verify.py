"""Verify the log in the database: the rows, the global chain, the signed checkpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from uuid import UUID

from application.audit import Checkpoint, Finding, LogVerifier
from infrastructure.audit.keys import signature_valid
from infrastructure.audit.reader import audit_rows, chain_head, checkpoint_pages, log_hash_before
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
    signed = aiter(checkpoint_pages(conn, first=first, last=last) if stream is None else _none())
    upcoming = await anext(signed, None)
    async for row in audit_rows(conn, first=first, last=last, stream=stream):
        while upcoming is not None and upcoming.to_position < row.position:
            verifier.checkpoint(upcoming)  # a position with no row: signature only
            upcoming = await anext(signed, None)
        verifier.row(row)
        while upcoming is not None and upcoming.to_position == row.position:
            verifier.checkpoint(upcoming)
            upcoming = await anext(signed, None)
        if progress is not None and row.event is not None and verifier.events % 500 == 0:
            progress(verifier.events)
    while upcoming is not None:
        verifier.checkpoint(upcoming)
        upcoming = await anext(signed, None)
    verifier.finish()
    if progress is not None:
        progress(verifier.events)
    return verifier.problems, verifier.events


async def _none() -> AsyncIterator[Checkpoint]:
    return
    yield
