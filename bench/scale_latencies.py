"""The scale benchmark's latencies, taken once every log is built, the logs in turn."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Awaitable
from typing import Final, NamedTuple, TypeVar

import asyncpg

from application.workspace_queries import WorkspaceQueries
from bench.catch_up import say
from bench.databases import settle
from bench.patch_path import (
    bench_context,
    manager_for,
    patch_for,
    repository_for,
    workspace_with_history,
)
from infrastructure.blob_store import PostgresBlobStore
from infrastructure.event_store.postgres_store import PostgresEventStore
from infrastructure.pool import open_pool

T = TypeVar("T")

#: What each figure measures: a patch submitted to a fresh workspace and to the big
#: one; reading a file, a diff over 10 versions and a history page of the big one; the
#: WAL a round writes (each round opens with a checkpoint), per submit. Random index keys
#: made the WAL grow with the log (full-page images of the leaves they land on), so
#: this shows whether new keys still arrive in order (domain/ids.py).
LATENCIES: Final = {
    "small": "submit, fresh workspace (ms)",
    "big": "submit, big workspace (ms)",
    "file": "read a file (ms)",
    "diff": "diff over 10 versions (ms)",
    "history": "history page (ms)",
    "wal": "WAL per submit, after a checkpoint (KB)",
}


class Log(NamedTuple):
    """A measured log, kept for the latency rounds: its database and big workspace."""

    url: str
    big: uuid.UUID
    version: int


async def _latency_round(
    pool: asyncpg.Pool, log: Log, samples: int, timings: dict[str, list[float]]
) -> Log:
    """`samples` of each timed operation on `log`, added to `timings`; the log after."""
    manager = manager_for(pool)
    store = PostgresEventStore(pool)
    queries = WorkspaceQueries(store, PostgresBlobStore(pool), repository_for(store, pool))
    small, small_version = await workspace_with_history(manager, 1)
    big, version = log.big, log.version

    async def timed(name: str, work: Awaitable[T]) -> T:
        started = time.perf_counter()
        result = await work
        timings[name].append((time.perf_counter() - started) * 1000)
        return result

    await pool.execute("CHECKPOINT")
    wal_from = await pool.fetchval("SELECT pg_current_wal_lsn()")
    for n in range(samples):
        patch = patch_for(small, small_version, n)
        small_version = (await timed("small", manager.submit(patch, bench_context()))).version
        record = await timed("big", manager.submit(patch_for(big, version, n), bench_context()))
        version = record.version
        await timed("file", queries.file(big, f"src/module_{n % 20}.py"))
        await timed("diff", queries.diff(big, version - 10, version))
        await timed("history", queries.history(big, after_version=version - 50, limit=50))
    wal = await pool.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)", wal_from)
    timings["wal"].append(float(wal) / (2 * samples) / 1000)
    return log._replace(version=version)


async def interleaved_latencies(
    logs: list[Log], rounds: int, per_round: int
) -> list[dict[str, float]]:
    """The median of each latency on each log, measured in `rounds` that take the logs
    in turn, so a slow minute of the machine falls on every log alike."""
    logs = list(logs)
    pools = [await open_pool(log.url, max_size=2) for log in logs]
    timings: list[dict[str, list[float]]] = [{key: [] for key in LATENCIES} for _ in logs]
    try:
        for pool in pools:  # as before every timed step: the tools left work for autovacuum
            await settle(pool)
        for done in range(rounds):
            say(f"latencies, round {done + 1} of {rounds}")
            for n, pool in enumerate(pools):
                logs[n] = await _latency_round(pool, logs[n], per_round, timings[n])
    finally:
        for pool in pools:
            await pool.close()
    return [
        {LATENCIES[key]: statistics.median(samples) for key, samples in found.items()}
        for found in timings
    ]
