"""A realistic mix of commands for the follower tests: patches (applied, rejected,
reverted), checks, deliveries, task grants, ops events, heartbeats and incident steps."""

from __future__ import annotations

import random
import uuid

import asyncpg

from application.aggregates import AggregateRepository, CommandContext
from application.delivery import DeliveryService
from application.ops import OpsService
from application.patch_manager import PatchManager
from application.sharing import TaskAccessManager
from domain.contracts import (
    CheckRun,
    ChecksRequest,
    CreateFile,
    DeliveryRequest,
    GrantRequest,
    HeartbeatRequest,
    NewWorkspace,
    OpsEventRequest,
    PatchSubmission,
    WriteFile,
)
from infrastructure.blob_store import PostgresBlobStore
from infrastructure.event_store.postgres_store import PostgresEventStore


def context(actor: str) -> CommandContext:
    return CommandContext(actor=actor, correlation_id=uuid.uuid4())


async def record_workload(
    store: PostgresEventStore, pool: asyncpg.Pool, *, rounds: int, seed: int = 7
) -> None:
    rng = random.Random(seed)
    repository = AggregateRepository(store)
    patches = PatchManager(store, PostgresBlobStore(pool), repository)
    delivery = DeliveryService(store, repository)
    ops = OpsService(store, repository)
    tasks = TaskAccessManager(store, repository, ops)
    factories = ["ui-factory", "data-factory", "agent-factory"]
    opened: set[str] = set()
    for n in range(rounds):
        factory = rng.choice(factories)
        task = f"task-{n % 7}"
        ws = await patches.create_workspace(
            NewWorkspace(name=f"ws-{n}", files=[CreateFile(path="a.txt", content="1\n")]),
            context(factory),
        )
        applied = None
        for step in range(3):
            record = await patches.submit(
                PatchSubmission(
                    workspace_id=ws.id,
                    base_version=2,  # the later ones are stale: rejected
                    author=factory,
                    task_id=task,
                    idempotency_key=uuid.uuid4().hex,
                    operations=[WriteFile(path="a.txt", content=f"{n}-{step}\n")],
                ),
                context(factory),
            )
            applied = applied or record
        assert applied is not None
        if rng.random() < 0.3:
            await patches.revert(
                applied.patch_id,
                author=factory,
                task_id=task,
                message="undo",
                context=context(factory),
            )
        await delivery.report_checks(
            task,
            ChecksRequest(
                checks=[
                    CheckRun(name="unit", status=rng.choice(["passed", "failed"])),
                    CheckRun(name="lint", status="passed", duration_ms=n),
                ],
                patch_id=applied.patch_id,
            ),
            context(factory),
        )
        if task not in opened:  # its first reporter owns it and lets the others in
            opened.add(task)
            owner = (await tasks.grants(task, context(factory))).owner
            for other in [f for f in factories if f != owner]:
                grant = GrantRequest(actor=other, access="write")
                await tasks.grant(task, grant, context(owner))
        if rng.random() < 0.5:
            await delivery.deliver(
                task,
                DeliveryRequest(summary=f"round {n}", workspace_id=ws.id, final_version=3),
                context(factory),
            )
        source = rng.choice(["builder", "gateway"])
        severity = rng.choice(["info", "warning", "error"])
        receipt = await ops.report(
            OpsEventRequest(source=source, kind="build", severity=severity, message=f"m{n}"),
            context("monitor"),
        )
        await ops.heartbeat(HeartbeatRequest(source=source), context("monitor"))
        if receipt.incident_id is not None and rng.random() < 0.5:
            await ops.resolve(receipt.incident_id, "fixed", context("oncall"))
