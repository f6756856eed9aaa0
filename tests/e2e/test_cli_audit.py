"""`vibehq audit verify` as a user runs it: exit codes, reports, bad arguments."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import asyncpg
import pytest

from infrastructure.embedded.engines import Engines
from infrastructure.event_store.postgres_store import PostgresEventStore
from tests.e2e.test_cli import vibehq
from tests.integration.followers import kill, start_worker, wait_caught_up
from tests.integration.workload import record_workload

pytestmark = pytest.mark.timeout(180)

SEED = base64.b64encode(bytes(range(32))).decode()
OTHER_SEED = base64.b64encode(bytes(range(32, 64))).decode()


async def test_verify_exits_0_when_clean_1_with_the_problems_2_on_bad_arguments(
    database_url: str, engines: Engines, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    await record_workload(store, pool, rounds=3)
    env = {
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": engines.nats_url,
        "VIBEHQ_SIGNING_KEY": SEED,
        "VIBEHQ_CHECKPOINT_SECONDS": "0",
    }
    worker = start_worker(database_url, engines.nats_url, "tauditcli", **env)
    try:
        await wait_caught_up(pool, store, names=("audit",))
    finally:
        kill(worker)

    clean = await asyncio.to_thread(vibehq, "audit", "verify", env=env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.startswith("clean: ")
    # The exporter's public key is all another party needs to verify (say, a copy).
    key = await asyncio.to_thread(vibehq, "audit", "key", env=env)
    assert key.returncode == 0, key.stderr
    public = key.stdout.strip()
    assert len(base64.b64decode(public)) == 32
    assert SEED not in key.stdout  # the public half, never the seed
    verifier = {**env, "VIBEHQ_SIGNING_KEY": OTHER_SEED, "VIBEHQ_VERIFY_KEY": public}
    trusted = await asyncio.to_thread(vibehq, "audit", "verify", env=verifier)
    assert trusted.returncode == 0, trusted.stdout + trusted.stderr
    bad = await asyncio.to_thread(
        vibehq, "audit", "key", env={**env, "VIBEHQ_VERIFY_KEY": "not base64!"}
    )
    assert (bad.returncode, bad.stderr.strip()) == (2, "vibehq: VIBEHQ_VERIFY_KEY is not base64")

    target = await pool.fetchval("SELECT min(notification_id) FROM vibehq_events")
    async with pool.acquire() as conn:
        await conn.execute("ALTER TABLE vibehq_events DISABLE TRIGGER USER")
        await conn.execute(
            "UPDATE vibehq_events SET actor = 'mallory' WHERE notification_id = $1", target
        )
    tampered = await asyncio.to_thread(vibehq, "audit", "verify", env=env)
    assert tampered.returncode == 1
    assert f"position {target}: payload or metadata changed" in tampered.stdout
    assert f"first at position {target}" in tampered.stdout
    side_by_side = await asyncio.to_thread(vibehq, "audit", "verify", "--jobs", "3", env=env)
    assert side_by_side.returncode == 1
    assert side_by_side.stdout == tampered.stdout  # the same report as one process gives

    other_key = {**env, "VIBEHQ_VERIFY_KEY": base64.b64encode(bytes(32)).decode()}
    untrusted = await asyncio.to_thread(vibehq, "audit", "verify", env=other_key)
    assert untrusted.returncode == 1
    assert "checkpoint signature invalid - signed by another key" in untrusted.stdout

    for args, message in [
        (("--stream", "00000000-0000-0000-0000-000000000001"), "no stream"),
        (("--stream", "x"), "is not an id"),
        (("--to", "999999999999999999"), "beyond the head of the log"),
    ]:
        result = await asyncio.to_thread(vibehq, "audit", "verify", *args, env=env)
        assert result.returncode == 2, result.stdout + result.stderr
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


async def test_verify_new_checks_only_what_came_after_the_last_clean_run(
    database_url: str,
    engines: Engines,
    pool: asyncpg.Pool,
    store: PostgresEventStore,
    tmp_path: Path,
) -> None:
    env = {
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": engines.nats_url,
        "VIBEHQ_SIGNING_KEY": SEED,
        "VIBEHQ_CHECKPOINT_SECONDS": "0",
        "VIBEHQ_CHECKPOINT_EVERY": "20",
        "VIBEHQ_DATA_DIR": str(tmp_path / "data"),
    }

    async def chained() -> None:
        worker = start_worker(database_url, engines.nats_url, "tauditnew", **env)
        try:
            await wait_caught_up(pool, store, names=("audit",))
        finally:
            kill(worker)

    await record_workload(store, pool, rounds=2)
    await chained()
    first_run = await asyncio.to_thread(vibehq, "audit", "verify", "--new", env=env)
    assert first_run.returncode == 0, first_run.stdout + first_run.stderr
    assert "no earlier verification here" in first_run.stderr
    everything = int(first_run.stdout.split()[1])
    mark = json.loads((tmp_path / "data" / "audit-verified.json").read_text())
    await record_workload(store, pool, rounds=1, seed=8)
    await chained()
    later = await asyncio.to_thread(vibehq, "audit", "verify", "--new", env=env)
    assert later.returncode == 0, later.stdout + later.stderr
    assert f"verifying after position {mark['position']}" in later.stderr
    assert 0 < int(later.stdout.split()[1]) < everything  # only the new events
    # Rewriting the chain at the mark is found, though the run starts after it.
    moved = json.loads((tmp_path / "data" / "audit-verified.json").read_text())
    assert moved["position"] > mark["position"]
    async with pool.acquire() as conn:
        await conn.execute("ALTER TABLE vibehq_log_chain DISABLE TRIGGER USER")
        await conn.execute(
            "UPDATE vibehq_log_chain SET log_hash = sha256(log_hash) WHERE position = $1",
            moved["position"],
        )
        await conn.execute("ALTER TABLE vibehq_log_chain ENABLE TRIGGER USER")
    rewritten = await asyncio.to_thread(vibehq, "audit", "verify", "--new", env=env)
    assert rewritten.returncode == 1
    assert f"position {moved['position']}: log chain broken" in rewritten.stdout
    both = await asyncio.to_thread(vibehq, "audit", "verify", "--new", "--from", "3", env=env)
    assert both.returncode == 2
