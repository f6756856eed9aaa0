"""Verify a long log in several processes at once, each over its own range.

The range [first, last] is cut into consecutive slices, one per process. Each process
opens its own connection and verifies its slice, chaining on from the global chain's
hash just before it *as the database holds it*; the slice before checks that very
link (it is its last), so the slices together check what one pass would. Hashing is
CPU work, so processes (not tasks) and PostgreSQL backends run side by side.

One difference from one pass: an event moved from one slice to another is reported as
"payload or metadata changed" at both places instead of "events reordered".
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Final

import asyncpg

from infrastructure.audit.verify import Verification, verify_range
from infrastructure.event_store.log_queries import count_events
from infrastructure.pool import DbConnection

#: Below this many events a slice is not worth a process (start-up costs ~0.5 s).
MIN_SLICE: Final = 20_000

_done: ctypes.Array[ctypes.c_int64] | None = None  # per slice: events checked (in each worker)


async def slices(conn: DbConnection, first: int, last: int, parts: int) -> list[tuple[int, int]]:
    """[first, last] cut into at most `parts` consecutive, disjoint ranges holding about
    as many events each (positions are not dense: one index-only pass finds the cuts)."""
    events = await count_events(conn, first=first, last=last, stream=None)
    step = -(-events // max(1, parts))  # ceiling: at most `parts` slices
    cuts: list[int] = []
    if parts > 1 and events > 1:
        cuts = [
            row["notification_id"]
            for row in await conn.fetch(
                "SELECT notification_id FROM (SELECT notification_id, row_number() OVER "
                "(ORDER BY notification_id) AS n FROM vibehq_events "
                "WHERE notification_id BETWEEN $1 AND $2) numbered "
                "WHERE (n - 1) % $3 = 0 AND n > 1 ORDER BY notification_id",
                first,
                last,
                step,
            )
        ]
    starts = [first, *cuts]
    ends = [cut - 1 for cut in cuts] + [last]
    return list(zip(starts, ends, strict=True))


def jobs_for(events: int, asked: int, cpus: int) -> int:
    """How many processes: `asked`, or (0: automatic) one per MIN_SLICE events up to
    the CPUs."""
    if asked > 0:
        return asked
    return max(1, min(cpus, events // MIN_SLICE))


def _share(done: ctypes.Array[ctypes.c_int64]) -> None:
    global _done
    _done = done


def _verify_slice(
    database_url: str,
    trusted_key: bytes | None,
    first: int,
    last: int,
    anchor: bytes | None,
    index: int,
) -> Verification:
    async def run() -> Verification:
        conn = await asyncpg.connect(database_url)
        try:
            return await verify_range(
                conn,
                trusted_key=trusted_key,
                first=first,
                last=last,
                anchor=anchor,
                progress=_report(index),
            )
        finally:
            await conn.close()

    return asyncio.run(run())


def _report(index: int) -> Callable[[int], None]:
    def report(events: int) -> None:
        if _done is not None:
            _done[index] = events

    return report


async def verify_in_parallel(
    database_url: str,
    *,
    trusted_key: bytes | None,
    first: int,
    last: int,
    jobs: int,
    anchor: bytes | None = None,
    progress: Callable[[int], None] | None = None,
) -> Verification:
    """Verify [first, last] in `jobs` processes; `anchor` as in `verify_range`."""
    conn = await asyncpg.connect(database_url)
    try:
        ranges = await slices(conn, first, last, jobs)
    finally:
        await conn.close()
    context = multiprocessing.get_context("spawn")  # no fork of a process with a loop
    done: ctypes.Array[ctypes.c_int64] = context.RawArray(ctypes.c_int64, len(ranges))
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(
        len(ranges), mp_context=context, initializer=_share, initargs=(done,)
    ) as pool:
        futures = [
            loop.run_in_executor(
                pool,
                _verify_slice,
                database_url,
                trusted_key,
                start,
                end,
                anchor if index == 0 else None,
                index,
            )
            for index, (start, end) in enumerate(ranges)
        ]
        pending: set[asyncio.Future[Verification]] = set(futures)
        while pending:
            _, pending = await asyncio.wait(pending, timeout=0.25)
            if progress is not None:
                progress(sum(done[:]))
        return joined([future.result() for future in futures])


def joined(parts: Sequence[Verification]) -> Verification:
    """One verification of consecutive slices, each verified on its own."""
    problems = sorted(
        (problem for part in parts for problem in part.problems),
        key=lambda problem: problem.position,
    )
    vouched = None
    if not problems:
        vouched = next((p.vouched for p in reversed(parts) if p.vouched is not None), None)
    return Verification(problems, sum(part.events for part in parts), vouched)
