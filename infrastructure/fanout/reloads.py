"""Reload something when NATS says it changed, coalesced: changes that arrive while a
reload runs cause one more, not one each; a failed reload is tried again a second
later (logged once per failure), so a change is never missed for a passing outage."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Reloads:
    def __init__(self, load: Callable[[], Awaitable[object]], what: str) -> None:
        self._load = load
        self._what = what
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"reload {self._what}")

    def want(self) -> None:
        """Something changed: reload (soon, once however many say so)."""
        self._wanted.set()

    async def _run(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                await self._load()
            except Exception:
                log.warning("could not reload %s", self._what, exc_info=True)
                await asyncio.sleep(1)
                self._wanted.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
