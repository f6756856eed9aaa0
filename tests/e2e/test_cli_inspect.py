"""`vibehq workspace show|diff` and `vibehq replay` as a user runs them."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from application.event_codec import EventCodec
from application.ports import AppendRequest
from domain.workspace import Workspace
from infrastructure.embedded.engines import Engines
from infrastructure.event_store.postgres_store import PostgresEventStore, read_all
from infrastructure.projections.delivery import DeliveryProjection
from infrastructure.projections.runner import ProjectionRunner
from infrastructure.projections.workspaces import WorkspaceListProjection
from tests.e2e.test_cli import vibehq
from tests.integration.followers import dump, live, running, wait_caught_up
from tests.integration.workload import record_workload

pytestmark = pytest.mark.timeout(180)


def env_for(database_url: str, engines: Engines) -> dict[str, str]:
    return {"VIBEHQ_DATABASE_URL": database_url, "VIBEHQ_NATS_URL": engines.nats_url}


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    result = await asyncio.to_thread(vibehq, *args, env=env)
    return result.returncode, result.stdout, result.stderr


async def test_workspace_show_and_diff_travel_in_time(
    database_url: str, engines: Engines, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    await record_workload(store, pool, rounds=1)
    [created, *_] = await read_all(store)
    ws = str(created.stream_id)
    env = env_for(database_url, engines)

    code, out, err = await run_cli("workspace", "show", ws, "--at", "2", env=env)
    assert code == 0, err
    for expected in ("ws-0", "at version 2", "a.txt"):
        assert expected in out
    code, out, err = await run_cli("workspace", "show", ws, "--at", "2", "--path", "a.txt", env=env)
    assert out == "1\n", err
    code, out, _ = await run_cli("workspace", "show", ws, "--path", "a.txt", env=env)
    assert out == "0-0\n"  # the first of the round's writes won; the others were stale
    code, out, _ = await run_cli("workspace", "diff", ws, "2", "3", env=env)
    assert code == 0
    for expected in ("--- a/a.txt", "-1", "+0-0"):
        assert expected in out

    for args, message in [
        (("workspace", "show", "nope"), "vibehq: 'nope' is not an id, nor the start of one"),
        (
            ("workspace", "show", "00000000-0000-0000-0000-000000000001"),
            "vibehq: workspace 00000000-0000-0000-0000-000000000001 does not exist",
        ),
        (("workspace", "show", ws, "--at", "yesterday"), "is neither a version number"),
        (("workspace", "show", ws, "--at", "99"), "99"),
        (("workspace", "show", ws, "--path", "missing.txt"), "missing.txt"),
    ]:
        code, out, err = await run_cli(*args, env=env)
        assert code == 2, (args, out, err)
        assert len(err.strip().splitlines()) == 1, err
        assert message in err, err


async def _workspace_with_id(store: PostgresEventStore, stream_id: uuid.UUID) -> None:
    [created] = Workspace(name="twin", created_by="test").collect_events()
    await store.append(
        AppendRequest(
            stream_id=stream_id,
            stream_type="Workspace",
            expected_version=0,
            events=[EventCodec().encode(created)],
            actor="test",
            correlation_id=uuid.uuid4(),
        )
    )


async def test_workspaces_are_listed_and_named_by_the_short_ids_the_list_prints(
    database_url: str, engines: Engines, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    await record_workload(store, pool, rounds=1)
    [created, *_] = await read_all(store)
    ws = str(created.stream_id)
    twins = [
        uuid.UUID("abcdef01-0000-4000-8000-000000000001"),
        uuid.UUID("abcdef01-0000-4000-8000-000000000002"),
    ]
    for twin in twins:
        await _workspace_with_id(store, twin)
    runner = ProjectionRunner(
        dsn=database_url, store=store, projection=WorkspaceListProjection(), poll_interval=0.05
    )
    async with running(runner):
        await wait_caught_up(pool, store, names=("workspaces",))
    env = env_for(database_url, engines)

    code, out, err = await run_cli("workspace", "list", env=env)
    assert code == 0, err
    for expected in (ws[:8], "ws-0", "abcdef01", "twin"):
        assert expected in out
    code, out, err = await run_cli("workspace", "list", "--created-by", "test", "--json", env=env)
    assert [line.count('"twin"') for line in out.splitlines()] == [1, 1], err

    code, out, err = await run_cli("workspace", "show", ws[:8], "--path", "a.txt", env=env)
    assert (code, out) == (0, "0-0\n"), err
    code, out, err = await run_cli(
        "workspace", "show", "abcdef01-0000-4000-8000-00000000000", env=env
    )
    assert code == 2
    assert err.strip().splitlines() == [
        "vibehq: 'abcdef01-0000-4000-8000-00000000000' starts more than one workspace id: "
        f"{twins[0]}, {twins[1]}"
    ]
    code, _, err = await run_cli(
        "workspace", "diff", "abcdef01-0000-4000-8000-000000000002", "1", "1", env=env
    )
    assert code == 0, err
    code, _, err = await run_cli("workspace", "show", "ffffffffffff", env=env)
    assert (code, err.strip()) == (2, "vibehq: no workspace id starts with 'ffffffffffff'")


async def test_replay_to_a_moment_equals_the_live_model_as_it_stood_then(
    database_url: str, engines: Engines, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    projection = DeliveryProjection()
    runner = ProjectionRunner(
        dsn=database_url, store=store, projection=projection, poll_interval=0.05
    )
    async with running(runner):
        await record_workload(store, pool, rounds=4)
        await wait_caught_up(pool, store, names=("delivery",))
        then = await live(database_url, projection)
        moment = datetime.now(UTC)
        await asyncio.sleep(0.05)
        await record_workload(store, pool, rounds=4, seed=5)
        await wait_caught_up(pool, store, names=("delivery",))
        now = await live(database_url, projection)
    assert now != then  # the later work changed the live model

    env = env_for(database_url, engines)
    code, out, err = await run_cli("replay", "delivery", "--to", moment.isoformat(), env=env)
    assert code == 0, err
    assert "is in schema vibehq_replay_delivery" in out
    conn = await asyncpg.connect(database_url)
    try:
        assert await dump(conn, "vibehq_replay_delivery", projection) == then
    finally:
        await conn.close()
    assert await live(database_url, projection) == now  # the live model is untouched

    code, _, err = await run_cli("replay", "delivery", "--to", "999999999999999", env=env)
    assert code == 2
    assert "beyond the head of the log" in err
    code, _, err = await run_cli("replay", "nope", env=env)
    assert (code, err.strip()) == (
        2,
        "vibehq: no projection named 'nope'; known: delivery, ops, workspaces, secrets",
    )
