"""Reload something when NATS says it changed, coalesced: changes that arrive while a
reload runs cause one more, not one each; a failed reload is tried again a second
later (an outage logged once, infrastructure/outage.py), so a change is never missed for
a passing outage."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from infrastructure.outage import Outage

log = logging.getLogger(__name__)

#: Seconds before a failed reload is tried again.
RETRY = 1.0


class Reloads:
    def __init__(self, load: Callable[[], Awaitable[object]], what: str) -> None:
        self._load = load
        self._what = what
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._outage = Outage(f"reload {what}", log)

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
            except Exception as error:  # noqa: BLE001 - said once, with its traceback
                self._outage.failed(error, RETRY, trace=True)
                await asyncio.sleep(RETRY)
                self._wanted.set()
            else:
                self._outage.over()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
