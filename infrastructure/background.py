"""Runs the log's followers (projections, relay) and chores (the partition keeper) as
tasks of one process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol

from infrastructure.log_follower import LeasedFollower

log = logging.getLogger(__name__)


class Chore(Protocol):
    """Work beside the followers that runs until stopped."""

    name: str

    async def run(self, stop: asyncio.Event) -> None: ...


class Background:
    def __init__(self, followers: list[LeasedFollower], chores: Sequence[Chore] = ()) -> None:
        self.followers = followers
        self.chores = list(chores)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._stop.clear()
        self._tasks = [
            asyncio.create_task(follower.run(self._stop), name=f"follower-{follower.name}")
            for follower in [*self.followers, *self.chores]
        ]
        for task in self._tasks:
            task.add_done_callback(_report_crash)

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=5)
        self._tasks = []

    async def wait(self) -> None:
        """Until stopped (for `vibehq worker`)."""
        await self._stop.wait()


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s stopped with an error", task.get_name(), exc_info=task.exception())
