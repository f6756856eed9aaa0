"""The real HTTP app, served by uvicorn inside the test's event loop, on a test database."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import nats.js.errors
import uvicorn
from litestar import Litestar

from application.access import Scope, TokenService
from infrastructure.embedded.postgres import EmbeddedPostgres
from infrastructure.event_store.migrator import migrate
from infrastructure.fanout.connection import nats_servers
from infrastructure.fanout.subjects import Subjects
from infrastructure.settings import Settings
from infrastructure.token_store import PostgresTokenStore
from interfaces.composition import Services
from interfaces.http.app import create_app
from interfaces.http.dependencies import services_of
from interfaces.http.one_write import CoalescingHttpToolsProtocol


class Api:
    def __init__(
        self,
        client: httpx.AsyncClient,
        tokens: TokenService,
        settings: Settings,
        app: Litestar | None = None,
    ) -> None:
        self.client = client
        self.tokens = tokens
        self.settings = settings
        self._app = app

    @property
    def app(self) -> Litestar:
        assert self._app is not None
        return self._app

    @property
    def services(self) -> Services:
        """The serving app's use cases, for what a test drives in-process."""
        assert self._app is not None
        return services_of(self._app.state)

    @property
    def ws_base(self) -> str:
        return str(self.client.base_url).replace("http://", "ws://")

    async def token(self, actor: str, *scopes: Scope) -> str:
        issued = await self.tokens.issue(
            actor=actor, kind="factory", scopes=list(scopes), name="", now=datetime.now(UTC)
        )
        return issued.secret

    async def as_(self, actor: str, *scopes: Scope) -> httpx.AsyncClient:
        """A client whose requests carry a fresh token for `actor`."""
        secret = await self.token(actor, *scopes)
        return httpx.AsyncClient(
            base_url=str(self.client.base_url),
            headers={"Authorization": f"Bearer {secret}"},
            timeout=30,
        )


@contextlib.asynccontextmanager
async def serve_api(
    database_url: str, nats_url: str, pool: asyncpg.Pool, **overrides: Any
) -> AsyncIterator[Api]:
    # A NATS prefix of its own keeps this test's JetStream streams apart from others'.
    overrides.setdefault("nats_prefix", f"t{uuid.uuid4().hex[:12]}")
    settings = Settings(database_url=database_url, nats_url=nats_url, **overrides)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on",
        http=CoalescingHttpToolsProtocol,  # as `vibehq serve` runs it
        ws="websockets-sansio",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        try:
            yield Api(client, TokenService(PostgresTokenStore(pool)), settings, app)
        finally:
            server.should_exit = True
            await task
            # The app froze this process's objects as a worker does; a test process
            # outlives many apps, so let their objects be collected again.
            gc.unfreeze()
            await drop_streams(nats_url, Subjects(settings.nats_prefix))


async def drop_streams(nats_url: str, subjects: Subjects) -> None:
    client = await nats.connect(nats_servers(nats_url))
    try:
        for name in (subjects.events_stream, subjects.terminal_stream):
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await client.jetstream().delete_stream(name)
    finally:
        await client.close()


@contextlib.asynccontextmanager
async def serve_on_own_postgres(
    folder: Path, nats_url: str
) -> AsyncIterator[tuple[Api, EmbeddedPostgres, asyncpg.Pool]]:
    """The app on a PostgreSQL of its own (migrated), for a test that crashes it."""
    server = EmbeddedPostgres(folder)
    url = await asyncio.to_thread(server.start)
    try:
        conn = await asyncpg.connect(url)
        await migrate(conn)
        await conn.close()
        pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
        try:
            async with serve_api(url, nats_url, pool) as api:
                yield api, server, pool
        finally:
            await pool.close()
    finally:
        await asyncio.to_thread(server.force_stop)
