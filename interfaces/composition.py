"""The composition root: the one place that turns Settings into running adapters.

Everything else receives its collaborators; only this module decides which concrete
classes play the ports, so swapping an adapter is a change here and nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import asyncpg
import nats
from nats.aio.client import Client as NatsClient
from opentelemetry.sdk.trace import TracerProvider

from application.access import TokenService
from application.aggregates import AggregateRepository
from application.patch_manager import PatchManager
from application.workspace_queries import WorkspaceQueries
from infrastructure.blob_store import PostgresBlobStore
from infrastructure.embedded.engines import Engines, start_engines
from infrastructure.event_store.migrator import migrate
from infrastructure.event_store.postgres_store import PostgresEventStore
from infrastructure.health import Check, check_migrations, check_nats, check_postgres
from infrastructure.settings import Settings, data_folder, patch_limits
from infrastructure.snapshot_store import PostgresSnapshotStore
from infrastructure.telemetry import setup_tracing
from infrastructure.token_store import PostgresTokenStore

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a running process holds; close() releases it in reverse order."""

    settings: Settings
    engines: Engines
    pool: asyncpg.Pool
    store: PostgresEventStore
    nats: NatsClient
    tracer_provider: TracerProvider | None
    patches: PatchManager
    queries: WorkspaceQueries
    tokens: TokenService

    async def readiness(self) -> list[Check]:
        return list(
            await asyncio.gather(
                check_postgres(self.pool), check_migrations(self.pool), check_nats(self.nats)
            )
        )

    async def close(self) -> None:
        await self.store.close()
        if self.nats.is_connected:
            await self.nats.drain()
        await self.pool.close()
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        await asyncio.to_thread(self.engines.stop)


async def open_engines(settings: Settings) -> Engines:
    return await asyncio.to_thread(
        start_engines,
        database_url=settings.database_url,
        nats_url=settings.nats_url,
        data_dir=data_folder(settings),
    )


async def run_migrations(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        applied = await migrate(conn)
    finally:
        await conn.close()
    return [f"{m.version:04d}_{m.name}" for m in applied]


async def open_runtime(settings: Settings, *, apply_migrations: bool = True) -> Runtime:
    """Start or connect to the engines, migrate, and build the adapters."""
    tracer_provider = setup_tracing(settings.tracing, otlp_endpoint=settings.otlp_endpoint)
    engines = await open_engines(settings)
    try:
        if apply_migrations:
            for name in await run_migrations(engines.database_url):
                log.info("applied migration %s", name)
        pool = await asyncpg.create_pool(
            engines.database_url, min_size=1, max_size=settings.db_pool_size
        )
        store = PostgresEventStore(
            pool, dsn=engines.database_url, poll_interval=settings.poll_interval
        )
        await store.start()
        client = await nats.connect(engines.nats_url, name="vibehq", connect_timeout=5)
    except BaseException:
        await asyncio.to_thread(engines.stop)
        raise
    blobs = PostgresBlobStore(pool)
    repository = AggregateRepository(
        store, snapshots=PostgresSnapshotStore(pool), snapshot_every=settings.snapshot_every
    )
    return Runtime(
        settings,
        engines,
        pool,
        store,
        client,
        tracer_provider,
        patches=PatchManager(store, blobs, repository, limits=patch_limits(settings)),
        queries=WorkspaceQueries(store, blobs, repository),
        tokens=TokenService(PostgresTokenStore(pool)),
    )
