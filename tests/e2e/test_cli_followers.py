"""`vibehq projections`, `vibehq worker` and `vibehq tail` as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import nats
import pytest
import pytest_asyncio

from infrastructure.embedded.engines import Engines
from infrastructure.event_store.postgres_store import PostgresEventStore
from infrastructure.fanout.jetstream import ensure_streams
from infrastructure.fanout.subjects import Subjects
from tests.conftest import ROOT
from tests.e2e.test_cli import VIBEHQ, vibehq
from tests.integration.api import drop_streams
from tests.integration.followers import kill, start_worker, wait_caught_up
from tests.integration.test_streams import publisher
from tests.integration.workload import record_workload

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest_asyncio.fixture
async def followed(
    database_url: str,
    engines: Engines,
    pool: asyncpg.Pool,
    store: PostgresEventStore,
    prefix: str,
) -> AsyncIterator[dict[str, str]]:
    """A database with a workload that a worker has projected and relayed."""
    await record_workload(store, pool, rounds=4)
    worker = start_worker(database_url, engines.nats_url, prefix)
    try:
        await wait_caught_up(pool, store)
    finally:
        kill(worker)
    yield {
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": engines.nats_url,
        "VIBEHQ_NATS_PREFIX": prefix,
    }
    await drop_streams(engines.nats_url, Subjects(prefix))


def test_projections_status_shows_each_follower_and_its_lag(followed: dict[str, str]) -> None:
    result = vibehq("projections", "status", env={**followed, "COLUMNS": "160"})
    assert result.returncode == 0, result.stderr
    for name in ("delivery", "ops", "relay"):
        line = next(line for line in result.stdout.splitlines() if name in line)
        assert " 0 " in line  # caught up: no lag
        assert "none running" in line  # the worker was stopped


def test_projections_rebuild_reports_where_it_swapped_in(followed: dict[str, str]) -> None:
    result = vibehq("projections", "rebuild", "delivery", env=followed)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("delivery rebuilt and swapped in at position ")
    unknown = vibehq("projections", "rebuild", "nope", env=followed)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        "vibehq: no projection named 'nope'; known: delivery, ops, workspaces, secrets"
    )


def test_tail_replays_filters_and_prints_json_lines(followed: dict[str, str]) -> None:
    result = vibehq("tail", "events", "--all", "--count", "3", "--json", env=followed)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3]
    assert lines[0]["event"]["type"] == "Workspace.Created"

    resumed = vibehq("tail", "events", "--after", "2", "--count", "1", "--json", env=followed)
    assert json.loads(resumed.stdout)["seq"] == 3

    patches = vibehq(
        "tail", "events", "--all", "--type", "PatchRejected", "--count", "2", env=followed
    )
    assert patches.returncode == 0, patches.stderr
    assert all(
        "Workspace.PatchRejected" in line and "stale_base" in line
        for line in patches.stdout.splitlines()
    )

    ops = vibehq("tail", "ops", "--all", "--severity", "heartbeat", "--count", "1", env=followed)
    assert "♥" in ops.stdout

    bad = vibehq("tail", "events", "--workspace", "not-a-uuid", env=followed)
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "vibehq: --workspace 'not-a-uuid' is not an id, nor the start of one (hex digits)"
    )


async def _terminal_written(
    nats_url: str, subjects: Subjects, session: str, chunks: list[str]
) -> None:
    client = await nats.connect(nats_url)
    try:
        await ensure_streams(client.jetstream(), subjects)
        terminal = publisher(client, subjects)
        for chunk in chunks:
            await terminal.write(session, chunk)
    finally:
        await client.close()


async def _tail_terminal(
    nats_url: str, prefix: str, args: list[str], **settings: str
) -> subprocess.CompletedProcess[bytes]:
    """`vibehq tail terminal ARGS` (no database needed), its output as bytes."""
    env = {
        "VIBEHQ_NATS_URL": nats_url,
        "VIBEHQ_NATS_PREFIX": prefix,
        "VIBEHQ_DATABASE_URL": "postgresql://unused@127.0.0.1:1/unused",
        **settings,
    }
    return await asyncio.to_thread(
        subprocess.run,
        [VIBEHQ, "tail", "terminal", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        timeout=60,
        check=False,
    )


async def test_tail_terminal_resumes_after_a_sequence_byte_for_byte(
    engines: Engines, prefix: str
) -> None:
    subjects = Subjects(prefix)
    chunks = ["$ make\r\n", "building…\r\n", "\x1b[32mok\x1b[0m\r\n", "$ "]
    await _terminal_written(engines.nats_url, subjects, "sess-1", chunks)
    try:
        # Bytes, not text, so the CR LF the terminal wrote are checked as written.
        result = await _tail_terminal(
            engines.nats_url, prefix, ["sess-1", "--after", "1", "--count", "3"]
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == "building…\r\n\x1b[32mok\x1b[0m\r\n$ ".encode()
    finally:
        await drop_streams(engines.nats_url, subjects)


async def test_tail_pages_through_a_backlog_larger_than_its_buffer(
    engines: Engines, prefix: str
) -> None:
    """`tail --all` used to give up at once ("fell more than 1000 messages behind")
    when the stream held more than its buffer."""
    subjects = Subjects(prefix)
    count = 600
    await _terminal_written(
        engines.nats_url, subjects, "long", [f"line {n}\n" for n in range(count)]
    )
    try:
        result = await _tail_terminal(
            engines.nats_url,
            prefix,
            ["long", "--count", str(count)],
            VIBEHQ_STREAM_BUFFER="50",  # twelve times less than the backlog
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.decode().splitlines() == [f"line {n}" for n in range(count)]
    finally:
        await drop_streams(engines.nats_url, subjects)


def test_tail_exits_cleanly_on_ctrl_c(followed: dict[str, str]) -> None:
    process = subprocess.Popen(
        [VIBEHQ, "tail", "ops"],
        cwd=ROOT,
        env={**os.environ, **followed},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "Traceback" not in err
