"""Embedded engines: started when no URL is set, adopted when already running,
stopped only by whoever started them, and not started at all when URLs are given;
PostgreSQL serves our processes over a Unix socket where its path fits."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import asyncpg
import nats

from infrastructure.database_url import server_address
from infrastructure.embedded.engines import Engines, start_engines
from infrastructure.embedded.nats import EmbeddedNats
from infrastructure.embedded.postgres import EmbeddedPostgres


async def test_configured_urls_start_nothing(engines: Engines, tmp_path: Path) -> None:
    given = start_engines(
        database_url=engines.database_url, nats_url=engines.nats_url, data_dir=tmp_path
    )
    assert given.embedded == []
    assert (given.database_url, given.nats_url) == (engines.database_url, engines.nats_url)
    assert not (tmp_path / "postgres").exists()


async def test_embedded_engines_start_are_adopted_and_stop(tmp_path: Path) -> None:
    first = await asyncio.to_thread(
        start_engines, database_url=None, nats_url=None, data_dir=tmp_path
    )
    try:
        assert all(engine.started_here for engine in first.embedded)
        conn = await asyncpg.connect(first.database_url)
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()
        client = await nats.connect(first.nats_url)
        await client.jetstream().account_info()  # JetStream is on
        await client.close()

        second = await asyncio.to_thread(
            start_engines, database_url=None, nats_url=None, data_dir=tmp_path
        )
        assert (second.database_url, second.nats_url) == (first.database_url, first.nats_url)
        assert not any(engine.started_here for engine in second.embedded)
        await asyncio.to_thread(second.stop)  # an adopter leaves them running
        conn = await asyncpg.connect(first.database_url)
        await conn.close()
    finally:
        await asyncio.to_thread(first.stop)

    folder = await asyncio.to_thread(tmp_path.resolve)
    assert EmbeddedPostgres(folder / "postgres")._running_port() is None
    assert EmbeddedNats(folder / "nats")._running_port() is None


async def _served_over(url: str) -> str | None:
    """The server's address as the connection sees it: None over a Unix socket."""
    conn = await asyncpg.connect(url)
    try:
        address = await conn.fetchval("SELECT host(inet_server_addr())")
        return str(address) if address is not None else None
    finally:
        await conn.close()


async def test_our_processes_get_a_unix_socket_and_tools_keep_tcp() -> None:
    folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="vh-", dir="/tmp"))
    postgres = EmbeddedPostgres(folder / "postgres")
    url = await asyncio.to_thread(postgres.start)
    try:
        server = server_address(url)
        assert server.host == str((folder / "postgres" / "pgdata").resolve())
        assert await _served_over(url) is None
        tcp = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
        assert await _served_over(tcp) == "127.0.0.1"
    finally:
        await asyncio.to_thread(postgres.stop)
        await asyncio.to_thread(shutil.rmtree, folder, True)


async def test_a_data_folder_too_deep_for_a_socket_is_served_over_tcp(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 40)
    postgres = EmbeddedPostgres(deep / "postgres")
    url = await asyncio.to_thread(postgres.start)
    try:
        assert server_address(url).host == "127.0.0.1"
        assert await _served_over(url) == "127.0.0.1"
    finally:
        await asyncio.to_thread(postgres.stop)
