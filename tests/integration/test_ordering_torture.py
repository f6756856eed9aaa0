"""Gap-free ordering under load: writers in several OS processes, one follower.

The follower reads the global log while it is being written, exactly as a projection
or the relay does. Afterwards its sequence must equal the final table: a skipped
event (committed late below a position already read) or a reordering would show.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import time

import asyncpg

from infrastructure.event_store.postgres_store import PostgresEventStore
from tests.conftest import ROOT

WRITER_PROCESSES = 3
TASKS_PER_WRITER = 8
EVENTS_PER_WRITER = int(os.environ.get("VIBEHQ_TORTURE_EVENTS_PER_WRITER", "7000"))


async def follow(store: PostgresEventStore, until_done: asyncio.Event) -> list[int]:
    seen: list[int] = []
    position = 0
    while True:
        batch = await store.read_log(after_position=position, limit=500)
        if batch:
            seen.extend(e.position for e in batch)
            position = batch[-1].position
            continue
        if until_done.is_set() and not await store.wait_for_events(
            after_position=position, timeout=1.0
        ):
            return seen
        await store.wait_for_events(after_position=position, timeout=0.5)


async def test_follower_sees_every_event_once_in_final_order(
    store: PostgresEventStore, pool: asyncpg.Pool, database_url: str
) -> None:
    writers_done = asyncio.Event()
    follower = asyncio.create_task(follow(store, writers_done))
    started = time.perf_counter()
    writers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.torture_writer",
            database_url,
            str(EVENTS_PER_WRITER),
            str(TASKS_PER_WRITER),
            str(seed),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        for seed in range(WRITER_PROCESSES)
    ]
    outputs = [await writer.communicate() for writer in writers]
    elapsed = time.perf_counter() - started
    assert all(writer.returncode == 0 for writer in writers)
    written = sum(int(out.decode()) for out, _ in outputs)
    writers_done.set()
    seen = await asyncio.wait_for(follower, 60)

    final = [
        r[0]
        for r in await pool.fetch(
            "SELECT notification_id FROM vibehq_events ORDER BY notification_id"
        )
    ]
    assert written == WRITER_PROCESSES * EVENTS_PER_WRITER
    assert len(final) == written
    assert all(a < b for a, b in itertools.pairwise(seen)), "follower saw a reordering"
    missing = sorted(set(final) - set(seen))
    assert not missing, f"follower skipped {len(missing)} events, first at {missing[:5]}"
    assert seen == final
    versions = await pool.fetch(
        "SELECT originator_id, array_agg(originator_version ORDER BY originator_version) v "
        "FROM vibehq_events GROUP BY originator_id"
    )
    assert all(list(row["v"]) == list(range(1, len(row["v"]) + 1)) for row in versions)
    print(
        f"\ntorture: {written} events from {WRITER_PROCESSES} processes x "
        f"{TASKS_PER_WRITER} tasks in {elapsed:.1f}s ({written / elapsed:.0f} events/s)"
    )
