"""The `EventStore` port on PostgreSQL through asyncpg.

Appends are one round trip: to `vibehq_append` (see migrations/0001_event_log.sql),
or, for one event without an idempotency key, to the equivalent single statement in
`one_event_append.py`. So concurrent writers only meet where they really conflict: on
the same stream's next version or the same idempotency key. One-event appends that
arrive while earlier ones are still on their way are recorded together, each with its
own outcome, in one statement and one commit (`group_commit.py`, `group_append.py`).
Readers of the global log filter by the xmin watermark, which makes the log gap-free
without a table lock.

NOTIFY is sent from a separate connection after commit and coalesced, never inside the
append's transaction: PostgreSQL serialises the commits of notifying transactions on a
global queue lock, which would bring back the very ceiling the watermark avoids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import asyncpg
from opentelemetry import trace

from application.ports import (
    MAX_EVENTS_PER_TRANSACTION,
    AppendRequest,
    AppendResult,
    ConcurrencyConflict,
    IdempotencyKeyReused,
    RecordedEvent,
)
from domain.contracts import TraceContext
from infrastructure.database_url import server_address
from infrastructure.event_store import group_append, one_event_append
from infrastructure.event_store.append_statements import call_append, call_append_one, result_of
from infrastructure.event_store.group_commit import GroupCommit
from infrastructure.event_store.rows import COLUMNS, record_of
from infrastructure.event_store.tracing import statement_span
from infrastructure.metrics import metrics
from infrastructure.pool import DbConnection, connect
from infrastructure.settings import DEFAULT_APPEND_GROUPS
from infrastructure.telemetry import current_trace_context, tracing_enabled

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

CHANNEL: Final = "vibehq_events"
_READ_LOG: Final = (
    f"SELECT {COLUMNS} FROM vibehq_events "
    "WHERE notification_id > $1 AND notification_id < (SELECT vibehq_watermark()) "
    "ORDER BY notification_id LIMIT $2"
)
_PROBE_LOG: Final = (
    "SELECT notification_id < (SELECT vibehq_watermark()) FROM vibehq_events "
    "WHERE notification_id > $1 ORDER BY notification_id LIMIT 1"
)
_READ_STREAM: Final = (
    f"SELECT {COLUMNS} FROM vibehq_events WHERE originator_id = $1 AND originator_version > $2 "
    "ORDER BY originator_version LIMIT $3"
)
_RECALL: Final = (
    "SELECT request_hash, stream_id, first_version, last_version, first_position, "
    "last_position, recorded_at FROM vibehq_idempotency WHERE key = $1"
)
_FIND_EVENT: Final = f"SELECT {COLUMNS} FROM vibehq_events WHERE event_id = $1"
_VERSION_AT: Final = (
    "SELECT coalesce(max(originator_version), 0) FROM vibehq_events "
    "WHERE originator_id = $1 AND recorded_at <= $2"
)
_STREAM_VERSION: Final = (
    "SELECT coalesce(max(originator_version), 0) FROM vibehq_events WHERE originator_id = $1"
)


class _Signal:
    """A broadcast "something changed" that any number of waiters can await."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)


#: One-event appends with what two of them in one group must not share.
_Pending = tuple[AppendRequest, TraceContext | None]


def _group_keys(pending: _Pending) -> tuple[object, ...]:
    request = pending[0]
    key = request.idempotency_key
    return (request.stream_id, ("key", key) if key is not None else None)


class PostgresEventStore:
    """Implements `application.ports.EventStore`.

    `poll_interval` bounds how long a waiting reader can miss a commit when
    LISTEN/NOTIFY is unavailable (a pooler in transaction mode, a dropped connection).
    `append_groups` is how many groups of appends may be on their way at once (each on
    a connection of its own); 0 sends every append alone.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        dsn: str | None = None,
        poll_interval: float = 0.5,
        append_groups: int = DEFAULT_APPEND_GROUPS,
    ):
        self._pool = pool
        self._groups: GroupCommit[_Pending, asyncpg.Record] | None = (
            GroupCommit(
                self._append_group,
                _group_keys,
                max_group=group_append.MAX_GROUP,
                max_in_flight=append_groups,
            )
            if append_groups > 0
            else None
        )
        self._dsn = dsn
        self._address = server_address(dsn) if dsn else None
        #: read_log calls in flight, by (after_position, limit); see read_log.
        self._log_reads: dict[tuple[int, int], asyncio.Future[list[RecordedEvent]]] = {}
        self._poll_interval = poll_interval
        self._signal = _Signal()
        self._notify_wanted = asyncio.Event()
        self._notifier: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening for other processes' commits and announcing ours."""
        self._notifier = asyncio.create_task(self._announce_commits(), name="event-store-notify")
        if self._dsn is None:
            log.info("no DSN for LISTEN given; readers poll every %.2fs", self._poll_interval)
            return
        try:
            self._listener = await connect(self._dsn)
            await self._listener.add_listener(CHANNEL, self._on_notification)
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("LISTEN unavailable (%s); readers fall back to polling", error)
            self._listener = None

    async def close(self) -> None:
        if self._groups is not None:
            await self._groups.drain()
        if self._notifier is not None:
            self._notifier.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._notifier
            self._notifier = None
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None

    def _on_notification(self, *_: Any) -> None:
        self._signal.fire()

    async def _announce_commits(self) -> None:
        while True:
            await self._notify_wanted.wait()
            self._notify_wanted.clear()
            try:
                await self._pool.execute("SELECT pg_notify($1, '')", CHANNEL)
            except (OSError, asyncpg.PostgresError) as error:
                log.warning("NOTIFY failed (%s); other processes will poll", error)
                await asyncio.sleep(self._poll_interval)

    def _committed(self) -> None:
        self._signal.fire()
        self._notify_wanted.set()

    # -- writing -----------------------------------------------------------------------

    async def append(self, request: AppendRequest) -> AppendResult:
        count = len(request.events)
        if count == 0:
            raise ValueError("an append needs at least one event")
        if count > MAX_EVENTS_PER_TRANSACTION:
            raise ValueError(f"an append takes at most {MAX_EVENTS_PER_TRANSACTION} events")
        started = time.perf_counter()
        if not tracing_enabled():
            # No span of our own (even a no-op one costs ~15 us, a tenth of the client's
            # share of an append); a caller's active span is still recorded.
            row = await self._append_soon(request, request.trace_context or current_trace_context())
        else:
            with tracer.start_as_current_span("event_store.append") as span:
                span.set_attribute("vibehq.stream_id", str(request.stream_id))
                span.set_attribute("vibehq.event_count", count)
                row = await self._append_soon(
                    request, request.trace_context or current_trace_context()
                )
        self._committed()
        result = result_of(request, row)
        counted = metrics()
        counted.append_duration.observe(time.perf_counter() - started)
        if not result.duplicate:
            for event in request.events:
                counted.appended.labels(event.event_type).inc()
        return result

    async def _append_soon(
        self, request: AppendRequest, trace_context: TraceContext | None
    ) -> asyncpg.Record:
        if self._groups is not None and group_append.groupable(request):
            return await self._groups.submit((request, trace_context))
        return await self._append_now(request, trace_context)

    async def _append_group(self, group: Sequence[_Pending]) -> list[asyncpg.Record | Exception]:
        """Each append's result row or its own error; see group_append's outcomes."""
        metrics().append_group.observe(len(group))
        if len(group) == 1:
            try:
                return [await self._append_now(*group[0])]
            except Exception as error:  # noqa: BLE001 - this append's own outcome
                return [error]
        try:
            async with self._pool.acquire() as conn:
                with statement_span(group, self._address):
                    rows = await group_append.append_group(conn, group)
        except asyncpg.PostgresError as error:
            # The statement rolled back whole; alone, each append meets only its own fate.
            log.debug("group of %d appends failed (%s); sending each alone", len(group), error)
            return list(await self._each_alone(group))
        outcomes: list[asyncpg.Record | Exception] = []
        retry: list[int] = []
        for index, ((request, _), row) in enumerate(zip(group, rows, strict=True)):
            outcome = row["outcome"]
            if outcome in ("appended", "duplicate"):
                outcomes.append(row)
            elif outcome == "stale":
                outcomes.append(
                    ConcurrencyConflict(request.stream_id, request.expected_version, row["head"])
                )
            elif outcome == "reused":
                outcomes.append(IdempotencyKeyReused(request.idempotency_key or ""))
            else:  # "retry": a concurrent transaction holds its key; alone, it waits for it
                outcomes.append(row)
                retry.append(index)
        for index, outcome in zip(
            retry, await self._each_alone([group[i] for i in retry]), strict=True
        ):
            outcomes[index] = outcome
        return outcomes

    async def _each_alone(self, group: Sequence[_Pending]) -> list[asyncpg.Record | Exception]:
        async def alone(pending: _Pending) -> asyncpg.Record | Exception:
            try:
                return await self._append_now(*pending)
            except Exception as error:  # noqa: BLE001 - this append's own outcome, not ours
                return error

        return list(await asyncio.gather(*(alone(pending) for pending in group)))

    async def _append_now(
        self, request: AppendRequest, trace_context: TraceContext | None
    ) -> asyncpg.Record:
        async with self._pool.acquire() as conn:
            with statement_span([(request, trace_context)], self._address):
                if one_event_append.fits(request):
                    return await call_append_one(conn, request, trace_context, self.stream_version)
                return await call_append(conn, request, trace_context, self.stream_version)

    async def append_in(self, conn: DbConnection, request: AppendRequest) -> AppendResult:
        """Append inside the caller's transaction, to commit with the caller's own rows.

        The caller must call `announce()` after its transaction commits.
        """
        row = await call_append(conn, request, request.trace_context, self.stream_version)
        return result_of(request, row)

    def announce(self) -> None:
        """Wake readers after a transaction that used `append_in` has committed."""
        self._committed()

    # -- reading -----------------------------------------------------------------------

    async def read_stream(
        self, stream_id: UUID, *, after_version: int = 0, limit: int | None = None
    ) -> list[RecordedEvent]:
        rows = await self._pool.fetch(_READ_STREAM, stream_id, after_version, limit)
        return [record_of(row) for row in rows]

    async def read_log(self, *, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Up to `limit` events after `after_position`, below the watermark.

        The followers of one process (projections, relay, audit) wake on the same commit
        and, when caught up, ask for the same range at the same moment: concurrent
        identical calls share one query. Whatever a call gets is a gap-free run of the
        log starting after its position, which is all a reader may rely on.
        """
        key = (after_position, limit)
        shared = self._log_reads.get(key)
        if shared is None:
            shared = asyncio.ensure_future(self._read_log(after_position, limit))
            self._log_reads[key] = shared
            shared.add_done_callback(lambda _: self._log_reads.pop(key, None))
        return list(await asyncio.shield(shared))

    async def _read_log(self, after_position: int, limit: int) -> list[RecordedEvent]:
        rows = await self._pool.fetch(_READ_LOG, after_position, limit)
        return [record_of(row) for row in rows]

    async def stream_version(self, stream_id: UUID) -> int:
        version: int = await self._pool.fetchval(_STREAM_VERSION, stream_id)
        return version

    async def recall(self, idempotency_key: str, request_hash: bytes) -> AppendResult | None:
        row = await self._pool.fetchrow(_RECALL, idempotency_key)
        if row is None or row["first_version"] == 0:  # unused, or its append is in flight
            return None
        if row["request_hash"] != request_hash:
            raise IdempotencyKeyReused(idempotency_key)
        return AppendResult(
            stream_id=row["stream_id"],
            first_version=row["first_version"],
            last_version=row["last_version"],
            first_position=row["first_position"],
            last_position=row["last_position"],
            recorded_at=row["recorded_at"],
            duplicate=True,
        )

    async def find_event(self, event_id: UUID) -> RecordedEvent | None:
        row = await self._pool.fetchrow(_FIND_EVENT, event_id)
        return record_of(row) if row else None

    async def version_at(self, stream_id: UUID, moment: datetime) -> int:
        version: int = await self._pool.fetchval(_VERSION_AT, stream_id, moment)
        return version

    async def wait_for_events(self, *, after_position: int, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # A commit that is visible but still above the watermark will be released as
        # soon as older transactions finish; their writers may live elsewhere and not
        # notify (or roll back), so re-check soon, backing off up to the poll interval.
        held_back_delay = 0.002
        while True:
            releasable: bool | None = await self._pool.fetchval(_PROBE_LOG, after_position)
            if releasable:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            if releasable is None:
                held_back_delay = 0.002
                await self._signal.wait(min(remaining, self._poll_interval))
            else:
                await self._signal.wait(min(remaining, held_back_delay))
                held_back_delay = min(held_back_delay * 2, self._poll_interval)

    async def head_position(self) -> int:
        """The highest position readers may see now (0 for an empty log)."""
        position: int = await self._pool.fetchval(
            "SELECT coalesce(max(notification_id), 0) FROM vibehq_events "
            "WHERE notification_id < (SELECT vibehq_watermark())"
        )
        return position


async def read_all(store: PostgresEventStore, *, batch: int = 1000) -> Sequence[RecordedEvent]:
    """Everything readers can see now, in log order (for tools and tests)."""
    out: list[RecordedEvent] = []
    position = 0
    while chunk := await store.read_log(after_position=position, limit=batch):
        out.extend(chunk)
        position = chunk[-1].position
    return out
