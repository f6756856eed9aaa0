"""Whole-log tools (verify, export, import) hold memory bounded by their page sizes,
not by the log's length: measured with tracemalloc on a log and on the same log six
times longer."""

from __future__ import annotations

import asyncio
import hashlib
import re
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from application.ports import AppendRequest, NewEvent, RecordedEvent
from infrastructure.audit import importer
from infrastructure.audit.importer import import_lines
from infrastructure.audit.keys import public_bytes
from infrastructure.audit.transfer import export_lines
from infrastructure.audit.verify import verify_log, verify_range
from infrastructure.embedded.engines import Engines
from infrastructure.event_store.postgres_store import PostgresEventStore, read_all
from tests.conftest import copy_of_template
from tests.integration.followers import chain_and_sign
from tests.integration.workload import record_workload

pytestmark = pytest.mark.timeout(180)

KEY = Ed25519PrivateKey.generate()
STATE = b'{"path":"src/app.py","lines_added":3,"lines_removed":1}'


async def _grow(store: PostgresEventStore, events: int) -> None:
    for _ in range(events // 100):
        await _grow_stream(store, 100)


async def _grow_stream(store: PostgresEventStore, events: int) -> None:
    """A new stream of `events` events."""
    await store.append(
        AppendRequest(
            stream_id=uuid.uuid4(),
            stream_type="Bench",
            expected_version=0,
            events=[
                NewEvent(uuid.uuid4(), "Touched", 1, "bench:Touched", STATE) for _ in range(events)
            ],
            actor="bench",
            correlation_id=uuid.uuid4(),
        )
    )


async def _peak_bytes(work: Callable[[], Awaitable[object]]) -> int:
    tracemalloc.start()
    try:
        await work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_verify_holds_the_same_memory_for_a_log_six_times_longer(
    database_url: str, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    async def verify() -> None:
        async with pool.acquire() as conn:
            problems, _ = await verify_log(conn, trusted_key=public_bytes(KEY))
        assert problems == []

    await _grow(store, 2_000)
    await chain_and_sign(database_url, store, pool, KEY, every=500)
    small = await _peak_bytes(verify)
    await _grow(store, 10_000)
    await chain_and_sign(database_url, store, pool, KEY, every=500)
    large = await _peak_bytes(verify)
    assert large < 1.3 * small, (small, large)


async def _grow_with_blobs(store: PostgresEventStore, model: RecordedEvent, events: int) -> None:
    """Copies of a real PatchApplied event, each naming file contents of its own."""
    refs = re.findall(r'"sha256":"([0-9a-f]{64})"', model.state.decode())
    for _ in range(events // 100):
        batch = []
        for _ in range(100):
            state = model.state.decode()
            for ref in refs:
                state = state.replace(ref, hashlib.sha256(uuid.uuid4().bytes).hexdigest())
            batch.append(
                NewEvent(uuid.uuid4(), model.event_type, model.schema_version, model.topic,
                         state.encode())
            )  # fmt: skip
        await store.append(
            AppendRequest(
                stream_id=uuid.uuid4(),
                stream_type=model.stream_type,
                expected_version=0,
                events=batch,
                actor="bench",
                correlation_id=uuid.uuid4(),
            )
        )


async def test_export_holds_the_same_memory_for_a_log_six_times_longer(
    pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    await record_workload(store, pool, rounds=1)
    model = next(e for e in await read_all(store) if e.event_type == "Workspace.PatchApplied")

    async def export() -> None:
        async with pool.acquire() as conn:
            last = await conn.fetchval("SELECT max(notification_id) FROM vibehq_events")
            async for _ in export_lines(conn, stream=None, first=0, last=last, full=True):
                pass

    await _grow_with_blobs(store, model, 2_000)
    small = await _peak_bytes(export)
    await _grow_with_blobs(store, model, 10_000)
    large = await _peak_bytes(export)
    assert large < 1.3 * small, (small, large)


async def _statistic(conn: asyncpg.Connection, query: str) -> int:
    """A cumulative statistic of the database, with this session's counts flushed."""
    await conn.execute("SELECT pg_stat_force_next_flush()")
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    value: int = await conn.fetchval(query)
    return value


async def _tuples_read(conn: asyncpg.Connection) -> int:
    """Rows of the events table this database has read so far."""
    return await _statistic(
        conn,
        "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) "
        "FROM pg_stat_user_tables WHERE relname = 'vibehq_events'",
    )


async def test_verifying_the_newest_range_reads_the_range_not_the_log(
    database_url: str, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    await _grow(store, 6_000)
    await chain_and_sign(database_url, store, pool, KEY, every=500)
    async with pool.acquire() as conn:
        head = await conn.fetchval("SELECT max(notification_id) FROM vibehq_events")
        before = await _tuples_read(conn)
        found = await verify_range(conn, trusted_key=public_bytes(KEY), first=head - 99, last=head)
        read = await _tuples_read(conn) - before
    assert (found.problems, found.events) == ([], 100)
    assert read < 500, f"{read} rows of the events table read to verify 100"


async def _import_peak(engines: Engines, template_database: str, pool: asyncpg.Pool) -> int:
    """The whole log exported, then imported into an empty database: import's peak bytes."""
    async with pool.acquire() as conn:
        last = await conn.fetchval("SELECT max(notification_id) FROM vibehq_events")
        lines = [
            line async for line in export_lines(conn, stream=None, first=0, last=last, full=True)
        ]
    async with copy_of_template(engines, template_database, "vibehq_mem") as url:
        target = await asyncpg.connect(url)
        try:
            numbered = enumerate(lines, start=1)
            return await _peak_bytes(
                lambda: import_lines(target, numbered, source="f", identity=b"f")
            )
        finally:
            await target.close()


async def test_import_holds_the_same_memory_for_a_log_six_times_longer(
    engines: Engines,
    template_database: str,
    database_url: str,
    pool: asyncpg.Pool,
    store: PostgresEventStore,
) -> None:
    await _grow(store, 2_000)
    await chain_and_sign(database_url, store, pool, KEY, every=500)
    small = await _import_peak(engines, template_database, pool)
    await _grow(store, 10_000)
    await chain_and_sign(database_url, store, pool, KEY, every=500)
    large = await _import_peak(engines, template_database, pool)
    assert large < 1.3 * small, (small, large)


async def test_import_holds_the_same_memory_for_six_times_as_many_streams(
    engines: Engines,
    template_database: str,
    pool: asyncpg.Pool,
    store: PostgresEventStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each stream's head is what import keeps between batches: past its cap, the heads
    of a batch's other streams are read back, and memory stays where it was."""
    monkeypatch.setattr(importer, "_HEADS", 300)

    async def one_event_streams(count: int) -> None:
        for _ in range(count // 200):
            await asyncio.gather(*(_grow_stream(store, 1) for _ in range(200)))

    await one_event_streams(1_000)
    small = await _import_peak(engines, template_database, pool)
    await one_event_streams(5_000)
    large = await _import_peak(engines, template_database, pool)
    assert large < 1.3 * small, (small, large)


async def _temp_bytes(conn: asyncpg.Connection) -> int:
    """Bytes of temporary files this database's queries have written so far."""
    return await _statistic(
        conn, "SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()"
    )


async def test_verify_and_export_of_the_whole_log_write_no_temporary_file(
    database_url: str, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    """A join of events and chain had PostgreSQL sort the whole range on disk first
    (1 GB per million events); pages read in index order and merged sort nothing, even
    on a table never analysed (as here) and with little work memory. So for export."""
    await _grow(store, 8_000)
    await chain_and_sign(database_url, store, pool, KEY, every=500)
    await asyncio.sleep(1.5)  # other backends' statistics reach the database's first
    async with pool.acquire() as conn:
        await conn.execute("SET work_mem = '1MB'")
        before = await _temp_bytes(conn)
        found = await verify_range(conn, trusted_key=public_bytes(KEY))
        by_verify = await _temp_bytes(conn) - before
        last = await conn.fetchval("SELECT max(notification_id) FROM vibehq_events")
        lines = [
            line async for line in export_lines(conn, stream=None, first=0, last=last, full=True)
        ]
        by_export = await _temp_bytes(conn) - before - by_verify
        await conn.execute("RESET work_mem")
    assert (found.problems, found.events) == ([], 8_000)
    assert len(lines) > 8_000
    assert (by_verify, by_export) == (0, 0), "bytes of temporary files"
