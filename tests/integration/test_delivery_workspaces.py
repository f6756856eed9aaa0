"""A delivery report's workspaces: each once, in the order the task first touched them,
kept in a table of their own so that a task spread over many workspaces stays cheap."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from application.aggregates import AggregateRepository
from application.patch_manager import PatchManager
from domain.contracts import CreateFile, NewWorkspace, PatchSubmission, WriteFile
from infrastructure.blob_store import PostgresBlobStore
from infrastructure.event_store.postgres_store import PostgresEventStore
from infrastructure.projections.delivery import DeliveryProjection
from infrastructure.projections.delivery_reports import PostgresDeliveryReports
from infrastructure.projections.runner import ProjectionRunner
from tests.integration.followers import live, rebuilt_from_scratch, running, wait_caught_up
from tests.integration.workload import context

pytestmark = pytest.mark.timeout(120)

#: The live model's shape before version 3: a row's workspaces in an array column.
_V2_REPORTS = """
CREATE TABLE vibehq_read.delivery_reports (
    task_id text NOT NULL, factory text NOT NULL, status text NOT NULL DEFAULT 'in_progress',
    patches_applied integer NOT NULL DEFAULT 0, patches_rejected integer NOT NULL DEFAULT 0,
    patches_reverted integer NOT NULL DEFAULT 0,
    lines_added bigint NOT NULL DEFAULT 0, lines_removed bigint NOT NULL DEFAULT 0,
    first_activity timestamptz NOT NULL, last_activity timestamptz NOT NULL,
    workspaces uuid[] NOT NULL DEFAULT '{}', delivery jsonb, delivered_at timestamptz,
    last_position bigint NOT NULL, PRIMARY KEY (task_id, factory))
"""
VERSION = "SELECT model_version FROM vibehq_checkpoints WHERE name = 'delivery'"


async def _touch_in_turn(
    store: PostgresEventStore, pool: asyncpg.Pool, count: int
) -> list[uuid.UUID]:
    """One task, one factory, `count` workspaces; each patched twice, in an interleaved
    order, so a workspace comes back after others. Returns them in first-touch order."""
    patches = PatchManager(store, PostgresBlobStore(pool), AggregateRepository(store))
    made = [
        (
            await patches.create_workspace(
                NewWorkspace(name=f"ws-{n}", files=[CreateFile(path="a.txt", content="0\n")]),
                context("ui-factory"),
            )
        ).id
        for n in range(count)
    ]
    order = list(reversed(made))  # first touched last made: not the order of creation
    for round_ in (1, 2):
        for ws in order:
            await patches.submit(
                PatchSubmission(
                    workspace_id=ws,
                    base_version=round_ + 1,  # created at version 2
                    author="ui-factory",
                    task_id="T-wide",
                    idempotency_key=uuid.uuid4().hex,
                    operations=[WriteFile(path="a.txt", content=f"{round_}\n")],
                ),
                context("ui-factory"),
            )
    return order


async def _run_until_caught_up(
    database_url: str, store: PostgresEventStore, pool: asyncpg.Pool, batch_size: int
) -> None:
    runner = ProjectionRunner(
        dsn=database_url,
        store=store,
        projection=DeliveryProjection(),
        batch_size=batch_size,
        poll_interval=0.05,
    )
    async with running(runner):
        await wait_caught_up(pool, store, names=("delivery",))


async def test_a_report_lists_each_workspace_once_in_the_order_the_task_first_touched_it(
    database_url: str, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    order = await _touch_in_turn(store, pool, 12)
    await _run_until_caught_up(database_url, store, pool, batch_size=5)  # a row over batches

    report = await PostgresDeliveryReports(pool).report("T-wide", visible_to=None)
    assert report is not None
    [row] = report.factories
    assert row.workspaces == order
    assert row.patches_applied == 24
    projection = DeliveryProjection()
    assert await live(database_url, projection) == await rebuilt_from_scratch(
        database_url, store, projection
    )


async def test_a_live_model_of_the_array_shape_is_rebuilt_on_upgrade(
    database_url: str, pool: asyncpg.Pool, store: PostgresEventStore
) -> None:
    order = await _touch_in_turn(store, pool, 3)
    await pool.execute("CREATE SCHEMA IF NOT EXISTS vibehq_read")
    await pool.execute(_V2_REPORTS)
    await pool.execute(
        "INSERT INTO vibehq_checkpoints (name, position, model_version) VALUES ('delivery', $1, 2)",
        await store.head_position(),
    )  # version 2 claimed to be caught up, with nothing in its tables

    runner = ProjectionRunner(dsn=database_url, store=store, projection=DeliveryProjection())
    async with running(runner), asyncio.timeout(60):
        while True:  # the runner rebuilds before it moves on
            if await pool.fetchval(VERSION) == DeliveryProjection.version:
                break
            await asyncio.sleep(0.05)

    columns = await pool.fetch(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'vibehq_read' AND table_name = 'delivery_reports'"
    )
    assert "workspaces" not in {c["column_name"] for c in columns}
    report = await PostgresDeliveryReports(pool).report("T-wide", visible_to=None)
    assert report is not None
    assert report.factories[0].workspaces == order
