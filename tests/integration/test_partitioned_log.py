"""The event log partitioned by position (`vibehq db partition`, docs/scaling.md).

The event store's whole contract (tests/integration/test_event_store.py) runs here again
against a partitioned log whose partitions hold four transactions each, so its appends
cross partitions and spill into the default one. The tests below add what only a
partitioned log has: converting a live log in place, the stream-heads guard that
replaces the primary key, immutability per partition, partitions moved to another
tablespace or detached, and the CLI.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import tempfile
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from application.audit import Finding
from application.ports import ConcurrencyConflict
from infrastructure.audit.keys import public_bytes
from infrastructure.audit.verify import verify_log
from infrastructure.embedded.engines import Engines
from infrastructure.event_store.partitions import (
    PartitionKeeper,
    add_partitions,
    is_partitioned,
    partition_log,
    partitions,
)
from infrastructure.event_store.postgres_store import PostgresEventStore
from infrastructure.pool import open_pool
from tests.conftest import copy_of_template
from tests.e2e.test_cli_transfer import cli, env_of
from tests.factories import append_request
from tests.integration import test_event_store
from tests.integration.followers import chain_and_sign
from tests.integration.workload import record_workload

pytestmark = pytest.mark.timeout(180)

KEY = Ed25519PrivateKey.generate()
#: Transactions per partition here: small, so that a test's appends cross partitions.
SMALL = 4

# The event store's contract, collected again in this module: its `store` and `pool`
# fixtures stand on the partitioned `database_url` below.
globals().update(
    {name: test for name, test in vars(test_event_store).items() if name.startswith("test_")}
)


@pytest_asyncio.fixture
async def database_url(engines: Engines, template_database: str) -> AsyncIterator[str]:
    """A migrated, empty database whose log is partitioned, SMALL transactions each."""
    async with copy_of_template(engines, template_database, "vibehq_parted") as url:
        conn = await asyncpg.connect(url)
        try:
            await partition_log(conn, transactions=SMALL, ahead=3)
        finally:
            await conn.close()
        yield url


async def _rows_by_partition(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT tableoid::regclass::text AS name, count(*) AS n FROM vibehq_events GROUP BY 1"
    )
    return {row["name"]: row["n"] for row in rows}


async def _verified(conn: asyncpg.Connection, first: int = 0) -> tuple[list[Finding], int]:
    problems, checked = await verify_log(conn, trusted_key=public_bytes(KEY), first=first)
    return list(problems), checked


async def test_a_live_log_is_partitioned_in_place_and_keeps_working(
    empty_database: str,
) -> None:
    pool = await open_pool(empty_database, max_size=10)
    store = PostgresEventStore(pool, dsn=empty_database, poll_interval=0.2)
    await store.start()
    conn = await asyncpg.connect(empty_database)
    try:
        await record_workload(store, pool, rounds=2)
        before = await conn.fetch("SELECT * FROM vibehq_events ORDER BY notification_id")
        assert not await is_partitioned(conn)

        made = await partition_log(conn, transactions=SMALL, ahead=2)

        assert await is_partitioned(conn)
        assert made == 3  # the old log (whose range takes today's writes) and two ahead
        names = [part.name for part in await partitions(conn)]
        assert names[-1] == "vibehq_events_default"
        assert len(names) == 4
        assert await _rows_by_partition(conn) == {names[0]: len(before)}  # nothing moved
        after = await conn.fetch("SELECT * FROM vibehq_events ORDER BY notification_id")
        assert after == before

        # The same store goes on writing (its cached statements now meet the new
        # table), in rounds with the keeper's call between them.
        for seed in (8, 9, 10):
            await record_workload(store, pool, rounds=2, seed=seed)
            await add_partitions(conn, 2)
        spread = await _rows_by_partition(conn)
        newer = {name for name in spread if name not in (names[0], "vibehq_events_default")}
        assert len(newer) >= 3, spread
        assert sum(spread.values()) > len(before)

        await chain_and_sign(empty_database, store, pool, KEY, every=25)
        problems, checked = await _verified(conn)
        assert problems == []
        assert checked == sum(spread.values())
    finally:
        await conn.close()
        await store.close()
        await pool.close()


async def test_two_writers_at_one_version_the_second_waits_and_conflicts(
    store: PostgresEventStore, pool: asyncpg.Pool
) -> None:
    stream = (await store.append(append_request())).stream_id
    async with pool.acquire() as first:
        transaction = first.transaction()
        await transaction.start()
        await store.append_in(first, append_request(stream, expected_version=1))
        # The second passes the head check (the first has not committed) and then waits
        # on the stream's head row, as it waited on the primary key of a plain log.
        second = asyncio.create_task(store.append(append_request(stream, expected_version=1)))
        for _ in range(100):
            waiting = await pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            )
            if waiting:
                break
            await asyncio.sleep(0.05)
        assert waiting == 1
        assert not second.done()
        await transaction.commit()
    with pytest.raises(ConcurrencyConflict):
        await second
    assert [e.stream_version for e in await store.read_stream(stream)] == [1, 2]
    assert await pool.fetchval("SELECT version FROM vibehq_stream_heads") == 2


async def test_every_partition_refuses_changes(
    store: PostgresEventStore, pool: asyncpg.Pool
) -> None:
    for _ in range(SMALL * 2):
        await store.append(append_request())
    async with pool.acquire() as conn:
        spread = await _rows_by_partition(conn)
        assert len(spread) >= 2
        for table in ["vibehq_events", *spread]:
            for statement in (
                f"UPDATE {table} SET actor = 'someone else'",
                f"DELETE FROM {table}",
                f"TRUNCATE {table}",
            ):
                with pytest.raises(asyncpg.PostgresError, match="append-only"):
                    await conn.execute(statement)
        assert await _rows_by_partition(conn) == spread


async def test_an_old_partition_moves_or_detaches_and_the_log_stays_verifiable(
    store: PostgresEventStore, pool: asyncpg.Pool, database_url: str
) -> None:
    for _ in range(SMALL * 3):
        await store.append(append_request(count=2))
    await chain_and_sign(database_url, store, pool, KEY, every=4)
    conn = await asyncpg.connect(database_url)
    folder = tempfile.mkdtemp(prefix="vibehq-cold-")
    owner = os.stat(await conn.fetchval("SHOW data_directory"))
    os.chown(folder, owner.st_uid, owner.st_gid)
    tablespace = f"cold_{os.path.basename(folder).replace('-', '_')}"
    try:
        spread = await _rows_by_partition(conn)
        oldest = min(name for name in spread if name != "vibehq_events_default")
        total = sum(spread.values())

        await conn.execute(f"CREATE TABLESPACE {tablespace} LOCATION '{folder}'")
        await conn.execute(f"ALTER TABLE {oldest} SET TABLESPACE {tablespace}")
        moved = {part.name: part.tablespace for part in await partitions(conn)}
        assert moved[oldest] == tablespace
        assert await _verified(conn) == ([], total)

        bounds = await conn.fetchval(
            "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = $1", oldest
        )
        after_it: int = await conn.fetchval(f"SELECT max(notification_id) + 1 FROM {oldest}")
        await conn.execute(f"ALTER TABLE vibehq_events DETACH PARTITION {oldest}")
        # What stays is verifiable from the first position after the detached range:
        # its chain goes on from the link the database keeps for the range.
        rest = total - spread[oldest]
        assert await _verified(conn, first=after_it) == ([], rest)
        # A verify over the detached range says events are missing.
        problems, _ = await _verified(conn)
        assert problems
        assert "event deleted" in {problem.kind for problem in problems}

        await conn.execute(f"ALTER TABLE vibehq_events ATTACH PARTITION {oldest} {bounds}")
        assert await _verified(conn) == ([], total)
        await conn.execute(f"ALTER TABLE {oldest} SET TABLESPACE pg_default")
    finally:
        await conn.execute(f"DROP TABLESPACE IF EXISTS {tablespace}")
        await conn.close()
        os.rmdir(folder)


async def test_db_partition_converts_once_and_lists_the_partitions(
    engines: Engines, empty_database: str
) -> None:
    env = env_of(empty_database, engines)
    code, out, err = await cli("db", "partitions", env=env)
    assert (code, out.strip()) == (
        0,
        "the event log is not partitioned (vibehq db partition makes it so)",
    ), err

    code, out, err = await cli("db", "partition", "--transactions", "1000", env=env)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "the event log is partitioned, 1,000 transactions per partition"
    assert lines[1].split() == ["partition", "rows", "MB", "tablespace", "positions"]
    assert [line.split()[0] for line in lines[2:]][-1] == "vibehq_events_default"
    assert len(lines) == 2 + 4
    # Contiguous ranges of 1,000 transactions' positions, the first from the start.
    ranges = [re.findall(r"FROM \((\w+)\) TO \((\d+)\)$", line)[0] for line in lines[2:-1]]
    assert ranges[0][0] == "MINVALUE"
    for (_, end), (start, stop) in itertools.pairwise(ranges):
        assert (start, int(stop) - int(start)) == (end, 1000 << 16)

    code, out, err = await cli("db", "partition", env=env)
    assert (code, out) == (2, "")
    assert err == "vibehq: the event log is already partitioned: vibehq db partitions\n"

    code, out, err = await cli("db", "partitions", env=env)
    assert code == 0, err
    assert out.splitlines() == lines[1:]


async def test_writes_that_outran_the_partitions_wait_in_the_default_one(
    store: PostgresEventStore, pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    # Nobody made partitions for a while: the ones made ahead fill up, then the default.
    for _ in range(SMALL * 6):
        await store.append(append_request())
    async with pool.acquire() as conn:
        strays = (await _rows_by_partition(conn)).get("vibehq_events_default", 0)
        assert strays > 0

        with caplog.at_level(logging.WARNING, logger="infrastructure.event_store.partitions"):
            # After the strays, which stay put; three ahead, as transaction ids are the
            # cluster's (autoanalyze elsewhere takes some too).
            assert await add_partitions(conn, 3) >= 1
        last = await conn.fetchval("SELECT max(notification_id) FROM vibehq_events_default")
        assert caplog.messages == [
            f"positions up to {last} outran the partitions and stay in vibehq_events_default"
        ]
        # The range the strays are in stays with them; once the next range begins,
        # writes go to partitions again.
        for _ in range(SMALL):
            await store.append(append_request())
        spread = await _rows_by_partition(conn)
        assert strays <= spread["vibehq_events_default"] < strays + SMALL
        newest = await conn.fetchval(
            "SELECT tableoid::regclass::text FROM vibehq_events "
            "ORDER BY notification_id DESC LIMIT 1"
        )
        assert newest != "vibehq_events_default"


async def test_the_keeper_makes_partitions_ahead_of_the_writers(
    store: PostgresEventStore, pool: asyncpg.Pool, database_url: str
) -> None:
    keeper = PartitionKeeper(dsn=database_url, every=0.02, ahead=3)
    stop = asyncio.Event()
    running = asyncio.create_task(keeper.run(stop))
    try:
        for _ in range(SMALL * 6):  # more than the partitions made at the start hold
            await store.append(append_request())
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)
    async with pool.acquire() as conn:
        spread = await _rows_by_partition(conn)
    assert "vibehq_events_default" not in spread, spread
    assert len(spread) >= 5


async def test_a_long_reader_neither_blocks_the_keeper_nor_the_writers_behind_it(
    store: PostgresEventStore, pool: asyncpg.Pool, database_url: str
) -> None:
    for _ in range(SMALL * 4):  # a partition is due
        await store.append(append_request())
    reader = await asyncpg.connect(database_url)  # an export: one long transaction
    keeper = await asyncpg.connect(database_url)
    try:
        transaction = reader.transaction(isolation="repeatable_read", readonly=True)
        await transaction.start()
        await reader.fetchval("SELECT count(*) FROM vibehq_events")

        started = asyncio.get_running_loop().time()
        making = asyncio.create_task(add_partitions(keeper, 3))
        await asyncio.sleep(0.1)  # the keeper waits for its lock now
        slowest = 0.0
        while not making.done():
            began = asyncio.get_running_loop().time()
            await asyncio.wait_for(store.append(append_request()), 5)
            slowest = max(slowest, asyncio.get_running_loop().time() - began)
        with pytest.raises(asyncpg.LockNotAvailableError):
            await making  # gave up instead of queueing everyone behind the reader
        assert asyncio.get_running_loop().time() - started < 2
        assert slowest < 1.0  # no writer waited behind it longer than its lock timeout

        await transaction.commit()
        assert await add_partitions(keeper, 3) >= 1  # the next round makes them
    finally:
        await reader.close()
        await keeper.close()
