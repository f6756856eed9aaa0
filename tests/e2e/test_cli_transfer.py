"""`vibehq events export|import`: a byte-identical round trip that stays verifiable."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import uuid
from pathlib import Path

import asyncpg
import pytest
import zstandard

from application.aggregates import AggregateRepository, CommandContext
from application.secrets import SecretService
from domain.contracts import NewSecret, SecretValueRequest
from infrastructure.embedded.engines import Engines
from infrastructure.event_store.postgres_store import PostgresEventStore, read_all
from infrastructure.secrets.keys import LocalKeyRing
from infrastructure.secrets.vault import PostgresVault
from tests.e2e.test_cli import vibehq
from tests.integration.followers import kill, start_worker, wait_caught_up
from tests.integration.workload import record_workload

pytestmark = pytest.mark.timeout(240)

SEED = base64.b64encode(bytes(range(1, 33))).decode()


def env_of(database_url: str, engines: Engines) -> dict[str, str]:
    return {
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": engines.nats_url,
        "VIBEHQ_SIGNING_KEY": SEED,
        "VIBEHQ_CHECKPOINT_SECONDS": "0",
    }


async def cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    result = await asyncio.to_thread(vibehq, *args, env=env)
    return result.returncode, result.stdout, result.stderr


async def _a_shredded_secret(store: PostgresEventStore, pool: asyncpg.Pool) -> None:
    """A secret stored, rotated and shredded: its sealed versions stay in the log, whose
    export and import must work as for any other events."""
    vault = PostgresVault(pool, LocalKeyRing({1: os.urandom(32)}))
    secrets = SecretService(store, AggregateRepository(store), vault)
    context = CommandContext(actor="operator", correlation_id=uuid.uuid4(), admin=True)
    await secrets.create(NewSecret(name="gone-before-export", value="sk-" + "z" * 40), context)
    await secrets.add_version(
        "gone-before-export", SecretValueRequest(value="sk-" + "y" * 40), context
    )
    await secrets.shred("gone-before-export", "gone-before-export", context)


async def test_export_import_round_trip_is_byte_identical_and_verifiable(
    database_url: str,
    empty_database: str,
    engines: Engines,
    pool: asyncpg.Pool,
    store: PostgresEventStore,
    tmp_path: Path,
) -> None:
    await record_workload(store, pool, rounds=3)
    await _a_shredded_secret(store, pool)
    source = env_of(database_url, engines)
    worker = start_worker(database_url, engines.nats_url, "ttransfer", **source)
    try:
        await wait_caught_up(pool, store, names=("audit",))
    finally:
        kill(worker)
    events = await read_all(store)

    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    code, out, err = await cli("events", "export", "--out", str(first), env=source)
    assert code == 0, err
    assert out.strip() == f"exported {len(events)} events to {first}"

    # Compressed as the name says; the same lines inside.
    packed = {suffix: tmp_path / f"first.jsonl{suffix}" for suffix in (".gz", ".zst")}
    for path in packed.values():
        code, _, err = await cli("events", "export", "--out", str(path), env=source)
        assert code == 0, err
    assert gzip.decompress(packed[".gz"].read_bytes()) == first.read_bytes()
    unpacked = zstandard.ZstdDecompressor().stream_reader(packed[".zst"].read_bytes()).read()
    assert unpacked == first.read_bytes()
    assert packed[".zst"].stat().st_size < first.stat().st_size / 3

    target = env_of(empty_database, engines)
    code, out, err = await cli("events", "import", str(packed[".zst"]), env=target)
    assert code == 0, err
    assert out.startswith(f"imported {len(events)} events, ")
    code, _, err = await cli("events", "export", "--out", str(second), env=target)
    assert code == 0, err
    assert second.read_bytes() == first.read_bytes()

    code, out, err = await cli("audit", "verify", env=target)
    assert code == 0, out + err
    workspace = str(events[0].stream_id)
    code, out, _ = await cli("workspace", "show", workspace, "--path", "a.txt", env=target)
    assert (code, out) == (0, "0-0\n")  # the blobs came along

    code, _, err = await cli("events", "import", str(first), env=target)
    assert code == 2
    assert "already holds events" in err

    one = tmp_path / "one-stream.jsonl"
    code, _, err = await cli(
        "events", "export", "--stream", workspace, "--out", str(one), env=source
    )
    assert code == 0, err
    kinds = [json.loads(line)["kind"] for line in one.read_text().splitlines()]
    assert set(kinds) == {"event", "blob"}
    assert all(
        json.loads(line)["stream_id"] == workspace
        for line in one.read_text().splitlines()
        if '"kind":"event"' in line
    )


async def test_a_tampered_or_unreadable_file_imports_nothing(
    database_url: str,
    empty_database: str,
    engines: Engines,
    pool: asyncpg.Pool,
    store: PostgresEventStore,
    tmp_path: Path,
) -> None:
    await record_workload(store, pool, rounds=2)
    exported = tmp_path / "log.jsonl"
    code, _, err = await cli(
        "events", "export", "--out", str(exported), env=env_of(database_url, engines)
    )
    assert code == 0, err
    lines = exported.read_text().splitlines()
    victim = next(n for n, line in enumerate(lines) if '"actor":"monitor"' in line)
    lines[victim] = lines[victim].replace('"actor":"monitor"', '"actor":"mallory"')
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join(lines) + "\n")

    target = env_of(empty_database, engines)
    code, _, err = await cli("events", "import", str(tampered), env=target)
    assert code == 1
    assert err.strip().startswith(f"vibehq: line {victim + 1}: event at position ")
    assert "payload or metadata changed" in err
    conn = await asyncpg.connect(empty_database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM vibehq_events") == 0  # all or nothing
    finally:
        await conn.close()

    code, _, err = await cli("events", "import", str(tmp_path / "missing.jsonl"), env=target)
    assert (code, "no such file" in err) == (2, True)
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("not json\n")
    code, _, err = await cli("events", "import", str(garbage), env=target)
    assert code == 1
    assert err.startswith("vibehq: line 1: ")

    # Committed in checkpoints of 5 lines: those before the fault stay, and say so.
    code, _, err = await cli(
        "events", "import", str(tampered), "--checkpoint-lines", "5", env=target
    )
    kept = victim // 5 * 5
    assert code == 1
    assert f"the first {kept} lines are imported (checkpoints of 5)" in err
    code, _, err = await cli("serve", "--port", "0", env=target)
    assert code == 1
    assert err.strip() == (
        f"vibehq: the log is incomplete: an import of {tampered} stopped after line {kept}; "
        f"run `vibehq events import {tampered}` again to finish it"
    )
    code, _, err = await cli("events", "import", str(exported), env=target)
    assert code == 2
    assert "holds an unfinished import of another file" in err


async def test_events_show_prints_one_event_whole_or_says_there_is_none(
    database_url: str, engines: Engines, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    await record_workload(store, pool, rounds=1)
    [first, *_] = await read_all(store)
    env = env_of(database_url, engines)
    code, out, _ = await cli("events", "show", str(first.position), env=env)
    assert code == 0
    shown = json.loads(out)
    assert (shown["position"], shown["type"], shown["id"]) == (
        first.position,
        first.event_type,
        str(first.event_id),
    )
    assert shown["payload"]
    code, _, err = await cli("events", "show", "999999", env=env)
    assert (code, err.strip()) == (2, "vibehq: no event at position 999999")
