"""Every process masks every live secret, not only those it handled itself.

An HTTP worker that publishes an agent's terminal output may never have seen the
secret another worker stored a minute ago. So each process opens every version that
can still be opened when it starts, and again whenever a new version's event goes
past on NATS (the relay publishes it within milliseconds of the commit). Reloads
coalesce: events that arrive during one cause one more, not one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from infrastructure.fanout.subjects import Subjects

log = logging.getLogger(__name__)


class MaskWatch:
    def __init__(self, load: Callable[[], Awaitable[int]]) -> None:
        self._load = load
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None

    async def start(self, client: NatsClient, subjects: Subjects) -> None:
        """Mask what exists now, then follow new versions. A failure to load (a master
        key missing from the ring, say) is logged and does not stop the process."""
        try:
            added = await self._load()
        except Exception:
            log.exception("could not open the stored secrets to mask them")
        else:
            if added:
                log.debug("masking %d secret value(s) in this process's output", added)
        self._subscription = await client.subscribe(
            subjects.events(aggregate="secret", event="VersionAdded"), cb=self._seen
        )
        self._task = asyncio.create_task(self._reload_when_wanted(), name="secret masks")

    async def _seen(self, message: Msg) -> None:
        self._wanted.set()

    async def _reload_when_wanted(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                await self._load()
            except Exception:
                log.warning("could not load new secret versions to mask", exc_info=True)
                await asyncio.sleep(1)
                self._wanted.set()

    async def stop(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
