"""What every follower of the global log shares: a lease, a checkpoint, reconnects.

A follower runs in every worker process; each waits for its lease (an advisory
lock on a connection of its own), and only the holder works. When the holder dies,
PostgreSQL releases the lock with its connection and a standby takes over within
`lease_retry` seconds, continuing from the checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

from application.ports import EventStore, RecordedEvent
from infrastructure.metrics import metrics
from infrastructure.outage import Outage
from infrastructure.pool import UNAVAILABLE, DbConnection, connect
from infrastructure.projections.checkpoints import (
    claim,
    owner_name,
    release_lease,
    wait_for_lease,
)
from infrastructure.projections.model import LIVE_SCHEMA, search_path

log = logging.getLogger(__name__)

#: Errors that mean "the connection or server went away": reconnect and carry on.
TRANSIENT = UNAVAILABLE


#: Longest wait between retries after unexpected errors.
MAX_BACKOFF = 60.0
#: A follower that ran this long before failing was healthy: its back-off starts over.
HEALTHY_AFTER = 30.0


class LeasedFollower(ABC):
    def __init__(
        self,
        *,
        name: str,
        dsn: str,
        store: EventStore,
        batch_size: int = 500,
        poll_interval: float = 0.5,
        lease_retry: float = 1.0,
        linger: float = 0.0,
    ) -> None:
        self.name = name
        self._dsn = dsn
        self._store = store
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._linger = linger
        self._lease_retry = lease_retry
        #: Set while this process holds the lease and follows the log.
        self.active = asyncio.Event()
        self._outage = Outage(name, log)

    #: Errors that mean "a dependency went away for now": retried every `lease_retry`,
    #: logged once per outage. Subclasses add their own dependencies' errors.
    transient: tuple[type[BaseException], ...] = TRANSIENT

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the log until `stop` is set, surviving lost connections."""
        failures = 0
        clock = asyncio.get_running_loop()
        while not stop.is_set():
            started = clock.time()
            try:
                await self._run_once(stop)
                failures = 0
            except self.transient as error:
                metrics().follower_errors.labels(self.name).inc()
                delay = self._lease_retry
                self._outage.failed(error, delay)
            except Exception:  # a bug or a poison event: say so loudly, back off, retry
                metrics().follower_errors.labels(self.name).inc()
                if clock.time() - started > HEALTHY_AFTER:
                    failures = 0  # it ran well before this: not the k-th failure in a row
                failures += 1
                delay = min(self._lease_retry * 2**failures, MAX_BACKOFF)
                log.exception("%s failed; retrying in %.0fs", self.name, delay)
            else:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _run_once(self, stop: asyncio.Event) -> None:
        conn = await connect(
            self._dsn,
            server_settings={
                **search_path(LIVE_SCHEMA),
                "application_name": f"vibehq {self.name}",
            },
        )
        try:
            if not await wait_for_lease(conn, self.name, stop, self._lease_retry):
                return
            position, model_version = await claim(conn, self.name)
            log.info("%s: active in %s from position %d", self.name, owner_name(), position)
            await self._prepare(conn, model_version)
            self._outage.over()
            self.active.set()
            await self._follow(conn, stop)
        finally:
            self.active.clear()
            await release_lease(conn, self.name)
            with contextlib.suppress(Exception):
                await conn.close()

    async def _follow(self, conn: DbConnection, stop: asyncio.Event) -> None:
        position: int = await conn.fetchval(
            "SELECT position FROM vibehq_checkpoints WHERE name = $1", self.name
        )
        clock = asyncio.get_running_loop()
        while not stop.is_set():
            events = await self._store.read_log(after_position=position, limit=self._batch_size)
            if not events:
                await self._store.wait_for_events(
                    after_position=position, timeout=self._poll_interval
                )
                continue
            began = clock.time()
            position = await self._handle(conn, events)
            if len(events) < self._batch_size:
                # At most one short batch per `linger`: the first event after a quiet
                # spell goes at once, but under load the next batch gathers what came
                # meanwhile, and a batch's fixed cost (a transaction, a checkpoint, a
                # read) is paid once for many events instead of once for a few.
                await asyncio.sleep(max(0.0, began + self._linger - clock.time()))

    @abstractmethod
    async def _prepare(self, conn: DbConnection, model_version: int) -> None:
        """Get ready to follow, holding the lease (create tables, streams...)."""

    @abstractmethod
    async def _handle(self, conn: DbConnection, events: list[RecordedEvent]) -> int:
        """Process one batch; return the position the checkpoint now stands at."""
