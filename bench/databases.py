"""The benchmarks' databases: each made afresh on the same server, dropped when done."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import asyncpg

from infrastructure.database_url import with_database
from infrastructure.event_store.migrator import migrate
from infrastructure.event_store.partitions import partition_log


async def fresh_database(
    admin_url: str, name: str, *, partition: int = 0, setup: Iterable[str] = ()
) -> str:
    """A new migrated database (dropped first if it was there), its log partitioned
    `partition` transactions each unless that is 0, with `setup` statements run in it."""
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(admin_url, name)
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
        if partition:
            await partition_log(conn, transactions=partition)
        for statement in setup:
            await conn.execute(statement)
    finally:
        await conn.close()
    return url


async def drop_databases(admin_url: str, *names: str, checkpoint: bool = False) -> None:
    """Drop databases; with `checkpoint`, write out the server's dirty pages too, so the
    checkpointer does not run inside what is measured next."""
    admin = await asyncpg.connect(admin_url)
    try:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if checkpoint:
            with contextlib.suppress(asyncpg.InsufficientPrivilegeError):  # not our server
                await admin.execute("CHECKPOINT")
    finally:
        await admin.close()


async def settle(pool: asyncpg.Pool) -> None:
    """What an operator's database looks like after a while: vacuumed, analysed and
    checkpointed, so autovacuum and the checkpointer do not run in the timed parts
    (a bulk load triggers both)."""
    await pool.execute("VACUUM ANALYZE")
    await pool.execute("CHECKPOINT")
