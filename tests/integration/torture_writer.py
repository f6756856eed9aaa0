"""One writer process of the ordering torture test (run as `python -m ...`).

Appends `events` events with `tasks` concurrent tasks, 1-3 events per command, to
streams shared with the other writer processes, so that commands contend, conflict
and retry. Prints how many events it appended.
"""

from __future__ import annotations

import asyncio
import random
import sys
import uuid

import asyncpg

from application.ports import ConcurrencyConflict
from infrastructure.event_store.postgres_store import PostgresEventStore
from tests.factories import append_request

SHARED_STREAMS = [uuid.uuid5(uuid.NAMESPACE_URL, f"torture/{i}") for i in range(64)]


async def write(dsn: str, events: int, tasks: int, seed: int) -> int:
    pool = await asyncpg.create_pool(dsn, min_size=tasks, max_size=tasks)
    store = PostgresEventStore(pool)
    remaining = events
    written = 0

    async def worker(rng: random.Random) -> None:
        nonlocal remaining, written
        while remaining > 0:
            count = min(rng.randint(1, 3), remaining)
            remaining -= count
            stream = rng.choice(SHARED_STREAMS)
            while True:
                version = await store.stream_version(stream)
                try:
                    await store.append(
                        append_request(stream, expected_version=version, count=count)
                    )
                except ConcurrencyConflict:
                    continue
                written += count
                break

    await asyncio.gather(*(worker(random.Random(seed * 1000 + i)) for i in range(tasks)))
    await pool.close()
    return written


if __name__ == "__main__":
    dsn, events, tasks, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    print(asyncio.run(write(dsn, events, tasks, seed)))
