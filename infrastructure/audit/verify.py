"""Verify the log in the database: the rows, the global chain, the signed checkpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import NamedTuple
from uuid import UUID

from application.audit import Checkpoint, Finding, LogVerifier
from infrastructure.audit.keys import signature_valid
from infrastructure.audit.reader import audit_rows, chain_head, checkpoint_pages, log_hash_before
from infrastructure.pool import DbConnection


class Verification(NamedTuple):
    problems: list[Finding]
    events: int
    #: The last signed checkpoint the range's rows matched: where a later, incremental
    #: verification may start (None: no checkpoint in the range, or problems).
    vouched: Checkpoint | None


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
    found = await verify_range(
        conn, trusted_key=trusted_key, first=first, last=last, stream=stream, progress=progress
    )
    return found.problems, found.events


async def verify_range(
    conn: DbConnection,
    *,
    trusted_key: bytes | None,
    first: int = 0,
    last: int | None = None,
    stream: UUID | None = None,
    progress: Callable[[int], None] | None = None,
    anchor: bytes | None = None,
) -> Verification:
    """Verify positions [first, last]. `anchor` is the global chain's hash just before
    `first` as an earlier verification found it (default: as the database holds it)."""
    if last is None:
        last = await conn.fetchval("SELECT coalesce(max(notification_id), 0) FROM vibehq_events")
        last = max(last, await chain_head(conn))
    verifier = LogVerifier(
        trusted_key=trusted_key,
        check_signature=signature_valid,
        log_hash_before=anchor if anchor is not None else await log_hash_before(conn, first),
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
    vouched = verifier.vouched if not verifier.problems else None
    return Verification(verifier.problems, verifier.events, vouched)


async def _none() -> AsyncIterator[Checkpoint]:
    return
    yield
