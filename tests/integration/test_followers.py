"""Projections and the relay against real PostgreSQL and NATS: crashes, failover, rebuilds.

Workers run as subprocesses and die by SIGKILL (at random moments) or by a
deterministic crash point (`VIBEHQ_CRASH_AT`, which exits like SIGKILL would) inside a
projection's transaction and between the relay's acks and its checkpoint. Afterwards
the read models must equal a from-scratch rebuild, and JetStream must hold every
event exactly once.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid

import asyncpg
import pytest

from infrastructure.audit.keys import verify_key
from infrastructure.audit.verify import verify_log
from infrastructure.embedded.engines import Engines
from infrastructure.event_store.postgres_store import PostgresEventStore, read_all
from infrastructure.fanout.subjects import Subjects
from infrastructure.projections.registry import all_projections
from infrastructure.settings import Settings
from tests.conftest import ROOT
from tests.integration.api import drop_streams
from tests.integration.followers import (
    checkpoints,
    kill,
    live,
    published_ids,
    rebuilt_from_scratch,
    start_worker,
    wait_caught_up,
    worker_log,
)
from tests.integration.workload import record_workload

pytestmark = pytest.mark.timeout(240)


def worker_key() -> bytes:
    """The public key of the signing key worker subprocesses use (the repo's data folder)."""
    return verify_key(Settings(data_dir=str(ROOT / ".vibehq")))


async def test_killed_workers_lose_nothing_and_double_nothing(
    database_url: str, engines: Engines, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    prefix = f"t{uuid.uuid4().hex[:12]}"
    subjects = Subjects(prefix)
    try:
        # Deterministic crashes: inside a projection's transaction, after the relay's
        # acks. Fresh work first, so each crash point is reached in its second batch.
        for seed, crash in enumerate(("projection.before-commit:2", "relay.after-publish:2")):
            await record_workload(store, pool, rounds=12, seed=seed)
            worker = start_worker(database_url, engines.nats_url, prefix, VIBEHQ_CRASH_AT=crash)
            try:
                assert worker.wait(timeout=60) == 137, worker_log(worker)
            finally:
                kill(worker)
        # Random SIGKILLs while commands keep coming.
        for seed in range(2, 5):
            worker = start_worker(database_url, engines.nats_url, prefix)
            await record_workload(store, pool, rounds=6, seed=seed)
            await asyncio.sleep(0.3 * seed)
            kill(worker)
        worker = start_worker(database_url, engines.nats_url, prefix)
        try:
            await wait_caught_up(pool, store)
        finally:
            kill(worker)

        for projection in all_projections():
            assert await live(database_url, projection) == await rebuilt_from_scratch(
                database_url, store, projection
            ), projection.name
        # The audit follower's global chain and signatures survived the crashes too.
        async with pool.acquire() as conn:
            problems, checked = await verify_log(conn, trusted_key=worker_key())
        assert problems == []
        events = [str(event.event_id) for event in await read_all(store)]
        assert checked == len(events)
        assert len(events) > 200  # several batches of 40 per follower
        assert await published_ids(engines.nats_url, subjects) == events  # once, in order
    finally:
        await drop_streams(engines.nats_url, subjects)


async def caught_up_or_logs(
    pool: asyncpg.Pool, store: PostgresEventStore, *workers: subprocess.Popen[bytes], timeout: float
) -> None:
    try:
        await wait_caught_up(pool, store, timeout=timeout)
    except AssertionError as error:
        logs = "\n".join(f"--- worker {w.pid} ---\n{worker_log(w)}" for w in workers)
        raise AssertionError(f"{error}\n{logs}") from None


async def test_a_standby_worker_takes_over_when_the_active_one_dies(
    database_url: str, engines: Engines, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    prefix = f"t{uuid.uuid4().hex[:12]}"
    first = start_worker(database_url, engines.nats_url, prefix)
    second = start_worker(database_url, engines.nats_url, prefix)
    try:
        await record_workload(store, pool, rounds=3)
        await caught_up_or_logs(pool, store, first, second, timeout=60)
        owners = {name: owner for name, (_, owner) in (await checkpoints(pool)).items()}
        pids = {first.pid: first, second.pid: second}
        # One active process per follower (the two may split the followers between them).
        assert {int(owner.rpartition(":")[2]) for owner in owners.values()} <= set(pids)
        active = pids[int(owners["delivery"].rpartition(":")[2])]
        standby = second if active is first else first

        kill(active)  # ...and when it dies, the other takes over its leases within seconds
        await record_workload(store, pool, rounds=3, seed=9)
        await caught_up_or_logs(pool, store, first, second, timeout=30)
        owners = {name: owner for name, (_, owner) in (await checkpoints(pool)).items()}
        assert {owner.rpartition(":")[2] for owner in owners.values()} == {str(standby.pid)}
    finally:
        kill(first)
        kill(second)
        await drop_streams(engines.nats_url, Subjects(prefix))


async def test_a_worker_given_only_some_followers_runs_those_alone(
    database_url: str, engines: Engines, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    await record_workload(store, pool, rounds=2)
    prefix = f"t{uuid.uuid4().hex[:12]}"
    worker = start_worker(database_url, engines.nats_url, prefix, "--only", "relay, audit")
    try:
        await wait_caught_up(pool, store, names=("relay", "audit"))
        await asyncio.sleep(0.5)  # time enough for any other follower to move too
        moved = {name for name, (position, _) in (await checkpoints(pool)).items() if position}
        assert moved == {"relay", "audit"}, worker_log(worker)
    finally:
        kill(worker)
        await drop_streams(engines.nats_url, Subjects(prefix))
