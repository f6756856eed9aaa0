"""Helpers for tests that run projections and the relay: subprocess workers, waiting
for catch-up, dumping read models, reading back a JetStream stream."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import nats
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from application.ports import EventStore
from infrastructure.audit.notary import Notary
from infrastructure.fanout.subjects import Subjects
from infrastructure.projections.model import LIVE_SCHEMA, Projection, search_path
from infrastructure.projections.rebuild import build
from tests.conftest import ROOT


class Runs(Protocol):
    async def run(self, stop: asyncio.Event) -> None: ...


@contextlib.asynccontextmanager
async def running(follower: Runs) -> AsyncIterator[None]:
    """A follower (projection runner, relay, notary…) running in this loop until the
    block ends; it is stopped and awaited, so its errors surface here."""
    stop = asyncio.Event()
    task = asyncio.create_task(follower.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


FOLLOWERS = ("delivery", "ops", "workspaces", "secrets", "relay", "audit")
_LOGS: dict[int, str] = {}


def start_worker(
    database_url: str, nats_url: str, prefix: str, *args: str, **env: str
) -> subprocess.Popen[bytes]:
    """`vibehq worker ARGS` as a subprocess; its log goes to a file (see `worker_log`)."""
    environment = {
        **os.environ,
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": nats_url,
        "VIBEHQ_NATS_PREFIX": prefix,
        "VIBEHQ_FOLLOWER_BATCH": "40",
        "VIBEHQ_POLL_INTERVAL": "0.1",
        "VIBEHQ_LOG_LEVEL": "warning",
        **env,
    }
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed once the child has it
        prefix="vibehq-worker-", suffix=".log", delete=False
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "interfaces.cli.main", "worker", *args],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    log.close()
    _LOGS[process.pid] = log.name
    return process


def worker_log(process: subprocess.Popen[bytes]) -> str:
    """What the worker wrote to stderr (its log), for assertion messages."""
    return Path(_LOGS[process.pid]).read_text(errors="replace")[-4000:]


def kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


async def checkpoints(pool: asyncpg.Pool) -> dict[str, tuple[int, str | None]]:
    rows = await pool.fetch("SELECT name, position, owner FROM vibehq_checkpoints")
    return {row["name"]: (row["position"], row["owner"]) for row in rows}


async def wait_caught_up(
    pool: asyncpg.Pool, store: Any, timeout: float = 60, names: tuple[str, ...] = FOLLOWERS
) -> None:
    head = await store.head_position()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        positions = await checkpoints(pool)
        if all(positions.get(name, (0, None))[0] >= head for name in names):
            return
        if loop.time() > deadline:
            raise AssertionError(f"followers did not reach {head}: {positions}")
        await asyncio.sleep(0.1)


async def dump(conn: asyncpg.Connection, schema: str, projection: Projection) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    for table in projection.tables:
        rows = await conn.fetch(f'SELECT * FROM "{schema}"."{table}"')
        tables[table] = sorted(repr(tuple(row.values())) for row in rows)
    return tables


async def rebuilt_from_scratch(
    database_url: str, store: EventStore, projection: Projection
) -> dict[str, Any]:
    """The model built from the whole log in a schema of its own, then dropped."""
    schema = f"vibehq_check_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(database_url, server_settings=search_path(schema))
    try:
        await build(conn, store=store, projection=projection, schema=schema)
        return await dump(conn, schema, projection)
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


async def live(database_url: str, projection: Projection) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url)
    try:
        return await dump(conn, LIVE_SCHEMA, projection)
    finally:
        await conn.close()


async def published_ids(nats_url: str, subjects: Subjects) -> list[str]:
    """Nats-Msg-Id of every message in the events stream, in stream order."""
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        info = await js.stream_info(subjects.events_stream)
        ids = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(subjects.events_stream, seq)
            ids.append((message.headers or {})["Nats-Msg-Id"])
        return ids
    finally:
        await client.close()


async def chain_and_sign(
    database_url: str,
    store: Any,
    pool: asyncpg.Pool,
    key: Ed25519PrivateKey,
    every: int,
    **options: int,
) -> None:
    """Run the audit follower until it has chained and signed (every `every` events)
    what the log holds, then stop it."""
    notary = Notary(dsn=database_url, store=store, key=key, every=every, seconds=0, **options)
    async with running(notary):
        await wait_caught_up(pool, store, names=("audit",))
