"""Followers catching up from the start of a long log (`python -m bench scale`, step 4):
all together in one worker, or each alone in a worker of its own."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

import asyncpg

ROOT: Final = Path(__file__).resolve().parent.parent
FOLLOWERS: Final = ("relay", "audit", "workspaces", "delivery", "ops")

#: Figure name (with its unit) -> value.
Figures = dict[str, float]


def say(text: str) -> None:
    """A line of progress on stderr."""
    print(f"  scale: {text}", file=sys.stderr, flush=True)


async def catch_up_together(pool: asyncpg.Pool, env: dict[str, str]) -> Figures:
    """Start a worker with every follower at the start of the log: each follower's
    events/s from the moment the first of them moves (the worker's start-up left out)
    to its reaching the head. Projections whose model is new are rebuilt on start, and
    their checkpoint jumps to the head at the end: hence from the first move."""
    head = await pool.fetchval("SELECT max(notification_id) FROM vibehq_events")
    events = await pool.fetchval("SELECT count(*) FROM vibehq_events")
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "interfaces.cli.main", "worker",
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    moving: float | None = None
    done: dict[str, float] = {}
    try:
        while len(done) < len(FOLLOWERS):
            await asyncio.sleep(0.05)
            now = time.perf_counter()
            for row in await pool.fetch("SELECT name, position FROM vibehq_checkpoints"):
                name, position = row["name"], row["position"]
                if name in FOLLOWERS and position > 0 and moving is None:
                    moving = now
                if name in FOLLOWERS and position >= head:
                    done.setdefault(name, now)
            if worker.returncode is not None:
                raise RuntimeError("the worker stopped")
    finally:
        worker.terminate()
        await worker.wait()
    assert moving is not None
    return {
        f"catch-up, {name} (events/s)": events / max(done[name] - moving, 0.05)
        for name in FOLLOWERS
    }


async def catch_up_alone(pool: asyncpg.Pool, env: dict[str, str]) -> Figures:
    """Each follower alone in a worker of its own (`worker --only NAME`), one after the
    other, from the start of the log: events/s from the worker's saying it runs (its
    start-up left out) to the follower's reaching the head."""
    head = await pool.fetchval("SELECT max(notification_id) FROM vibehq_events")
    events = await pool.fetchval("SELECT count(*) FROM vibehq_events")
    figures: Figures = {}
    for name in FOLLOWERS:
        say(f"{name} catching up alone")
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "interfaces.cli.main", "worker", "--only", name,
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert worker.stderr is not None
        try:
            while b"worker running" not in (line := await worker.stderr.readline()):
                if not line:
                    raise RuntimeError(f"the worker for {name} stopped")
            started = time.perf_counter()
            drain = asyncio.create_task(worker.stderr.read())
            while (
                await pool.fetchval(
                    "SELECT coalesce(max(position), 0) FROM vibehq_checkpoints WHERE name = $1",
                    name,
                )
                < head
            ):
                await asyncio.sleep(0.05)
                if worker.returncode is not None:
                    raise RuntimeError(f"the worker for {name} stopped")
            figures[f"catch-up alone, {name} (events/s)"] = events / max(
                time.perf_counter() - started, 0.05
            )
        finally:
            worker.terminate()
            await worker.wait()
        await drain
    return figures
