"""Checkpoints and leases of the log's followers (projections and the relay).

A follower is active while it holds a session advisory lock named after it, on the
connection it writes with. If its process dies, PostgreSQL drops the connection and
the lock with it, and a standby's next `pg_try_advisory_lock` wins: failover without
heartbeats or home-made consensus. Writing on the locked connection means a follower
that lost its connection cannot write anything afterwards either.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final

import asyncpg

from domain.contracts import FollowerLag, FollowerState
from infrastructure.pool import DbConnection

#: First half of every follower's advisory lock key ("vhqq"); the second is hashtext(name).
LEASE_CLASS: Final = 0x76687171

_TRY_LEASE: Final = "SELECT pg_try_advisory_lock($1::int, hashtext($2))"
_RELEASE: Final = "SELECT pg_advisory_unlock($1::int, hashtext($2))"
_CLAIM: Final = """
INSERT INTO vibehq_checkpoints AS c (name, owner, owner_since) VALUES ($1, $2, now())
ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, owner_since = EXCLUDED.owner_since
RETURNING position, model_version
"""
_LOCK_POSITION: Final = "SELECT position FROM vibehq_checkpoints WHERE name = $1 FOR UPDATE"
_MODEL_POSITION: Final = "SELECT coalesce(max(position), 0) FROM vibehq_checkpoints WHERE name = $1"
_ADVANCE: Final = """
UPDATE vibehq_checkpoints
SET position = $2, events_seen = events_seen + $3, last_event_at = $4, updated_at = now()
WHERE name = $1
"""
_LAGS: Final = """
SELECT c.name, c.position, c.model_version, c.owner, c.updated_at,
       EXISTS (SELECT 1 FROM pg_locks l
               WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                 AND l.classid = $1::bigint::oid
                 AND l.objid = (hashtext(c.name)::bigint & 4294967295)::oid) AS active,
       (SELECT count(*) FROM vibehq_events e
        WHERE e.notification_id > c.position AND e.notification_id < w.mark) AS lag_events,
       (SELECT e.recorded_at FROM vibehq_events e
        WHERE e.notification_id > c.position AND e.notification_id < w.mark
        ORDER BY e.notification_id LIMIT 1) AS oldest_pending,
       now() AS now
FROM vibehq_checkpoints c, (SELECT vibehq_watermark() AS mark) w
ORDER BY c.name
"""


def owner_name() -> str:
    """Who holds a lease, as `vibehq projections status` shows it."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def try_lease(conn: DbConnection, name: str) -> bool:
    held: bool = await conn.fetchval(_TRY_LEASE, LEASE_CLASS, name)
    return held


async def wait_for_lease(conn: DbConnection, name: str, stop: asyncio.Event, retry: float) -> bool:
    """Block until this connection holds `name`'s lease (True) or `stop` is set (False)."""
    while not stop.is_set():
        if await try_lease(conn, name):
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), retry)
    return False


async def release_lease(conn: DbConnection, name: str) -> None:
    with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        if not conn.is_closed():
            await conn.execute(_RELEASE, LEASE_CLASS, name)
            await conn.execute(
                "UPDATE vibehq_checkpoints SET owner = NULL WHERE name = $1 AND owner = $2",
                name,
                owner_name(),
            )


async def claim(conn: DbConnection, name: str) -> tuple[int, int]:
    """Record this process as `name`'s owner; returns (position, model_version)."""
    row = await conn.fetchrow(_CLAIM, name, owner_name())
    assert row is not None
    return int(row["position"]), int(row["model_version"])


async def model_position(conn: DbConnection, name: str) -> int:
    """The log position a read model has folded up to (0 before its first batch): what a
    page of it answers as `as_of_position`."""
    position: int = await conn.fetchval(_MODEL_POSITION, name)
    return position


async def lock_position(conn: DbConnection, name: str) -> int:
    """The checkpoint, row-locked until the caller's transaction ends."""
    position: int | None = await conn.fetchval(_LOCK_POSITION, name)
    if position is None:
        raise LookupError(f"no checkpoint named {name!r}")
    return position


async def advance(
    conn: DbConnection, name: str, position: int, count: int, last_event_at: datetime
) -> None:
    await conn.execute(_ADVANCE, name, position, count, last_event_at)


class PostgresFollowers:
    """Implements `application.read_models.Followers`."""

    def __init__(
        self, pool: asyncpg.Pool, known: Iterable[str] = (), *, stuck_after: float = 60.0
    ) -> None:
        self._pool = pool
        self._known = tuple(known)
        self._stuck_after = stuck_after

    async def lags(self) -> list[FollowerLag]:
        rows = await self._pool.fetch(_LAGS, LEASE_CLASS)
        seen = {row["name"] for row in rows}
        lags = [_lag(row, self._stuck_after) for row in rows]
        head = await self._pool.fetchval(
            "SELECT count(*) FROM vibehq_events WHERE notification_id < vibehq_watermark()"
        )
        lags.extend(
            FollowerLag(
                name=name,
                position=0,
                lag_events=head,
                lag_seconds=0.0,
                owner=None,
                active=False,
                model_version=0,
                updated_at=None,
                state="stopped",
            )
            for name in self._known
            if name not in seen
        )
        return sorted(lags, key=lambda lag: lag.name)

    async def wait_for(self, name: str, position: int, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.005
        while True:
            reached = await self._pool.fetchval(
                "SELECT position >= $2 FROM vibehq_checkpoints WHERE name = $1", name, position
            )
            if reached:
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)


def _lag(row: asyncpg.Record, stuck_after: float) -> FollowerLag:
    oldest: datetime | None = row["oldest_pending"]
    now: datetime = row["now"] or datetime.now(UTC)
    updated: datetime | None = row["updated_at"]
    lag_seconds = max((now - oldest).total_seconds(), 0.0) if oldest else 0.0
    idle_seconds = (now - updated).total_seconds() if updated else float("inf")
    state: FollowerState
    if not row["active"]:
        state = "stopped"
    elif not row["lag_events"]:
        state = "current"
    elif lag_seconds > stuck_after and idle_seconds > stuck_after:
        state = "stuck"  # old events wait, and the checkpoint has not moved for as long
    else:
        state = "catching_up"
    return FollowerLag(
        name=row["name"],
        position=row["position"],
        lag_events=row["lag_events"],
        lag_seconds=lag_seconds,
        owner=row["owner"],
        active=row["active"],
        model_version=row["model_version"],
        updated_at=updated,
        state=state,
    )
