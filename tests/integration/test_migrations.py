"""Migrations apply once, in order, under concurrency, and refuse an edited history."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from infrastructure.database_url import with_database
from infrastructure.embedded.engines import Engines
from infrastructure.event_store.migrator import (
    MigrationError,
    available_migrations,
    migrate,
    pending_migrations,
)


@pytest_asyncio.fixture
async def empty_database(engines: Engines) -> AsyncIterator[str]:
    admin = await asyncpg.connect(engines.database_url)
    name = "vibehq_migrations_test"
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    yield with_database(engines.database_url, name)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def test_migrate_applies_everything_once_and_is_then_a_no_op(empty_database: str) -> None:
    conn = await asyncpg.connect(empty_database)
    try:
        assert [m.version for m in await pending_migrations(conn)] == [
            m.version for m in available_migrations()
        ]
        first = await migrate(conn)
        second = await migrate(conn)
        assert [m.version for m in first] == [m.version for m in available_migrations()]
        assert second == []
        assert await pending_migrations(conn) == []
        assert await conn.fetchval("SELECT to_regclass('vibehq_events') IS NOT NULL")
    finally:
        await conn.close()


async def test_concurrent_migrators_apply_each_migration_once(empty_database: str) -> None:
    conns = [await asyncpg.connect(empty_database) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(conn) for conn in conns))
        assert sorted(len(applied) for applied in results) == [0, 0, 0, len(available_migrations())]
        rows = await conns[0].fetchval("SELECT count(*) FROM vibehq_schema_migrations")
        assert rows == len(available_migrations())
    finally:
        for conn in conns:
            await conn.close()


async def test_a_changed_migration_is_refused(empty_database: str) -> None:
    conn = await asyncpg.connect(empty_database)
    try:
        await migrate(conn)
        await conn.execute(
            "UPDATE vibehq_schema_migrations SET checksum = 'edited' WHERE version = 1"
        )
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(conn)
    finally:
        await conn.close()


async def test_a_database_from_a_newer_release_is_refused(empty_database: str) -> None:
    conn = await asyncpg.connect(empty_database)
    try:
        await migrate(conn)
        await conn.execute(
            "INSERT INTO vibehq_schema_migrations (version, name, checksum) VALUES (9999, 'x', 'y')"
        )
        with pytest.raises(MigrationError, match="newer release"):
            await pending_migrations(conn)
    finally:
        await conn.close()
