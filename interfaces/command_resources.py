"""What one-shot commands borrow instead of a whole runtime: the engines, the schema
and a small pool or one connection, released when the command ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from application.access import TokenService
from infrastructure.audit.importer import unfinished_import, unfinished_message
from infrastructure.embedded.common import EngineError
from infrastructure.pool import connect, open_pool
from infrastructure.secrets.keys import LocalKeyRing, key_ring
from infrastructure.settings import Settings
from infrastructure.token_store import PostgresTokenStore
from interfaces.composition import open_engines, run_migrations


@asynccontextmanager
async def small_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """Engines started (or reused), the schema current, a pool of two."""
    engines = await open_engines(settings)
    try:
        await run_migrations(engines.database_url)
        pool = await open_pool(engines.database_url, max_size=2)
        try:
            yield pool
        finally:
            await pool.close()
    finally:
        await asyncio.to_thread(engines.stop)


@asynccontextmanager
async def token_service(settings: Settings) -> AsyncIterator[TokenService]:
    """Tokens alone, for commands that need nothing else."""
    async with small_pool(settings) as pool:
        yield TokenService(PostgresTokenStore(pool))


@asynccontextmanager
async def secret_keys(settings: Settings) -> AsyncIterator[tuple[asyncpg.Pool, LocalKeyRing]]:
    """The secrets' key table and this host's master key ring (`vibehq master-key`)."""
    async with small_pool(settings) as pool:
        yield pool, key_ring(settings)


@asynccontextmanager
async def log_connection(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """One connection to the event database, for a command that only looks something up."""
    engines = await open_engines(settings)
    try:
        conn = await connect(engines.database_url)
        try:
            yield conn
        finally:
            await conn.close()
    finally:
        await asyncio.to_thread(engines.stop)


async def require_complete_log(database_url: str) -> None:
    """Fail with one line when an `events import` stopped before its end."""
    conn = await connect(database_url)
    try:
        found = await unfinished_import(conn)
    finally:
        await conn.close()
    if found is not None:
        raise EngineError(unfinished_message(found))
