"""Figure 3: the cost of submitting a patch as a workspace's history grows.

Three workspaces, each seeded with 20 files, then with 1, 1,000 and 10,000 prior
patches through the real PatchManager on PostgreSQL (snapshots on, as shipped). Then
the same sequence of patches is submitted to each, one at a time and in turn (one to
each workspace per round, so a slower minute of a shared machine weighs on all three
alike), and the latency of each submission is recorded. Flat means: the 10,000-patch
workspace's median is within 1.2x of the 1-patch one's.

The PatchManager here has no aggregate cache: every submission loads its workspace
(newest snapshot plus the events after it). That is the path history could slow down;
the served hot path skips loading altogether (application/caches.py).
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from dataclasses import dataclass

import asyncpg

from application.aggregates import AggregateRepository, CommandContext
from application.patch_manager import PatchManager
from bench.stats import percentile
from domain.contracts import CreateFile, NewWorkspace, PatchSubmission, WriteFile
from domain.ids import new_id
from infrastructure.blob_store import PostgresBlobStore
from infrastructure.event_store.postgres_store import PostgresEventStore
from infrastructure.snapshot_store import PostgresSnapshotStore

FILES = 20


@dataclass
class PatchLatencies:
    history: int
    seconds: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.seconds, 0.99) * 1000


def repository_for(store: PostgresEventStore, pool: asyncpg.Pool) -> AggregateRepository:
    """Snapshots on, no aggregate cache: every load reads its snapshot and what followed."""
    return AggregateRepository(store, snapshots=PostgresSnapshotStore(pool))


def manager_for(pool: asyncpg.Pool) -> PatchManager:
    store = PostgresEventStore(pool)
    return PatchManager(store, PostgresBlobStore(pool), repository_for(store, pool))


def bench_context() -> CommandContext:
    """The context of a command a benchmark sends, as its factory."""
    return CommandContext(actor="bench-factory", correlation_id=uuid.uuid4())


def patch_for(workspace_id: uuid.UUID, base: int, n: int) -> PatchSubmission:
    return PatchSubmission(
        workspace_id=workspace_id,
        base_version=base,
        author="bench-factory",
        task_id="bench",
        idempotency_key=new_id().hex,
        operations=[WriteFile(path=f"src/module_{n % FILES}.py", content=f"VALUE = {n}\n" * 20)],
    )


async def workspace_with_history(manager: PatchManager, history: int) -> tuple[uuid.UUID, int]:
    files = [CreateFile(path=f"src/module_{i}.py", content="VALUE = 0\n") for i in range(FILES)]
    summary = await manager.create_workspace(
        NewWorkspace(name="bench", files=files), bench_context()
    )
    version = summary.version
    started = time.perf_counter()
    for n in range(history):
        record = await manager.submit(patch_for(summary.id, version, n), bench_context())
        version = record.version
        if n and n % 1000 == 0:
            rate = n / (time.perf_counter() - started)
            print(f"    seeded {n:,}/{history:,} patches ({rate:,.0f}/s)", file=sys.stderr)
    return summary.id, version


async def patch_latencies(
    pool: asyncpg.Pool, histories: list[int], count: int
) -> list[PatchLatencies]:
    manager = manager_for(pool)
    seeded = []
    for history in histories:
        print(f"  patch path: seeding a workspace with {history:,} patches", file=sys.stderr)
        seeded.append((history, *await workspace_with_history(manager, history)))
    versions = [version for _, _, version in seeded]
    results = [PatchLatencies(history, []) for history, _, _ in seeded]
    for n in range(count):
        for index, (_, workspace_id, _) in enumerate(seeded):
            started = time.perf_counter()
            record = await manager.submit(
                patch_for(workspace_id, versions[index], n), bench_context()
            )
            results[index].seconds.append(time.perf_counter() - started)
            assert record.outcome == "applied", record
            versions[index] = record.version
    for latencies in results:
        print(
            f"  patch path: {latencies.history:>6,} prior patches -> median "
            f"{latencies.median_ms:.2f} ms, p99 {latencies.p99_ms:.2f} ms",
            file=sys.stderr,
        )
    return results
