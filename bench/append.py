"""Append throughput: our store against its baselines, measured in the same run.

* ours      - `PostgresEventStore.append`, one command (one event) per call
* raw       - a bare asyncpg INSERT of the same row shape, autocommit, bigserial position
* library   - the `eventsourcing` library's own PostgreSQL recorder (psycopg, threads)

Each system gets the same database server, the same writer counts and the same time box.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg

from application.ports import AppendRequest, NewEvent
from infrastructure.event_store.postgres_store import PostgresEventStore

RAW_TABLE = """
CREATE TABLE IF NOT EXISTS bench_raw_events (
    originator_id uuid NOT NULL, originator_version bigint NOT NULL, topic text NOT NULL,
    state bytea NOT NULL, notification_id bigserial, event_id uuid NOT NULL,
    stream_type text NOT NULL, event_type text NOT NULL, schema_version integer NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(), correlation_id uuid NOT NULL,
    causation_id uuid, actor text NOT NULL, traceparent text, tracestate text,
    PRIMARY KEY (originator_id, originator_version)
);
CREATE UNIQUE INDEX IF NOT EXISTS bench_raw_position ON bench_raw_events (notification_id);
CREATE UNIQUE INDEX IF NOT EXISTS bench_raw_event_id ON bench_raw_events (event_id);
"""
RAW_INSERT = (
    "INSERT INTO bench_raw_events (originator_id, originator_version, topic, state, event_id, "
    "stream_type, event_type, schema_version, correlation_id, actor) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
)
STATE = b'{"path":"src/app.py","lines_added":3,"lines_removed":1}'


@dataclass(frozen=True)
class Sample:
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


@dataclass(frozen=True)
class Figure:
    name: str
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


async def _time_box(
    writers: int, seconds: float, one_command: Callable[[int], Awaitable[int]]
) -> Sample:
    """Run `writers` loops calling one_command(writer) until the time is up."""
    deadline = time.perf_counter() + seconds
    counts = [0] * writers

    async def loop(writer: int) -> None:
        while time.perf_counter() < deadline:
            counts[writer] += await one_command(writer)

    started = time.perf_counter()
    await asyncio.gather(*(loop(w) for w in range(writers)))
    return Sample(sum(counts), time.perf_counter() - started)


def _request(stream: uuid.UUID, version: int, events: int) -> AppendRequest:
    return AppendRequest(
        stream_id=stream,
        stream_type="Bench",
        expected_version=version,
        events=[
            NewEvent(uuid.uuid4(), "Touched", 1, "bench:Touched", STATE) for _ in range(events)
        ],
        actor="bench",
        correlation_id=uuid.uuid4(),
    )


async def ours(pool: asyncpg.Pool, writers: int, seconds: float, batch: int = 1) -> Sample:
    store = PostgresEventStore(pool)
    streams = [uuid.uuid4() for _ in range(writers)]
    versions = [0] * writers

    async def command(writer: int) -> int:
        await store.append(_request(streams[writer], versions[writer], batch))
        versions[writer] += batch
        return batch

    return await _time_box(writers, seconds, command)


async def raw(pool: asyncpg.Pool, writers: int, seconds: float, batch: int = 1) -> Sample:
    streams = [uuid.uuid4() for _ in range(writers)]
    versions = [0] * writers

    def row(writer: int) -> tuple[object, ...]:
        versions[writer] += 1
        return (
            streams[writer],
            versions[writer],
            "bench:Touched",
            STATE,
            uuid.uuid4(),
            "Bench",
            "Touched",
            1,
            uuid.uuid4(),
            "bench",
        )

    async def command(writer: int) -> int:
        if batch == 1:
            await pool.execute(RAW_INSERT, *row(writer))
            return 1
        async with pool.acquire() as conn, conn.transaction():
            await conn.executemany(RAW_INSERT, [row(writer) for _ in range(batch)])
        return batch

    return await _time_box(writers, seconds, command)


def library(database_url: str, writers: int, seconds: float) -> Sample:
    """The eventsourcing PostgresApplicationRecorder, one thread per writer."""
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

    url = urlsplit(database_url)
    datastore = PostgresDatastore(
        url.path.lstrip("/"),
        url.hostname or "127.0.0.1",
        url.port or 5432,
        url.username or "postgres",
        url.password or "",
        pool_size=writers,
    )
    recorder = PostgresApplicationRecorder(datastore, events_table_name="bench_library_events")
    recorder.create_table()
    deadline = time.perf_counter() + seconds

    def loop() -> int:
        stream, version, count = uuid.uuid4(), 0, 0
        while time.perf_counter() < deadline:
            version += 1
            recorder.insert_events([StoredEvent(stream, version, "bench:Touched", STATE)])
            count += 1
        return count

    started = time.perf_counter()
    with ThreadPoolExecutor(writers) as threads:
        total = sum(threads.map(lambda _: loop(), range(writers)))
    elapsed = time.perf_counter() - started
    datastore.close()
    return Sample(total, elapsed)
