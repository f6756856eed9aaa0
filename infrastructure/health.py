"""Checks of each dependency, shared by `GET /ready` and `vibehq doctor`.

Each check says what is wrong *and what to do*, because the person reading it is
usually starting the service for the first time.
"""

from __future__ import annotations

import asyncio

import asyncpg
import nats
from nats.aio.client import Client as NatsClient

from domain.contracts import FollowerLag, HealthCheck
from infrastructure.event_store.migrator import MigrationError, pending_migrations
from infrastructure.pool import UNAVAILABLE


async def check_postgres(pool: asyncpg.Pool) -> HealthCheck:
    try:
        version = await asyncio.wait_for(pool.fetchval("SHOW server_version"), 5)
    except (*UNAVAILABLE, asyncpg.PostgresError, TimeoutError) as error:
        return HealthCheck(
            "postgres",
            False,
            f"unreachable: {error}",
            "check VIBEHQ_DATABASE_URL, or unset it to use the embedded server",
        )
    del version  # reachable is what matters; /ready is public, so it names no versions
    return HealthCheck("postgres", True, "reachable")


async def check_migrations(pool: asyncpg.Pool) -> HealthCheck:
    try:
        async with pool.acquire() as conn:
            pending = await pending_migrations(conn)
    except MigrationError as error:
        return HealthCheck("migrations", False, str(error), "deploy the matching vibehq version")
    except (*UNAVAILABLE, asyncpg.PostgresError, TimeoutError) as error:
        return HealthCheck(
            "migrations",
            False,
            f"cannot read migration history: {error}",
            "fix the database connection first",
        )
    if pending:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in pending)
        return HealthCheck("migrations", False, f"pending: {names}", "run `vibehq db migrate`")
    return HealthCheck("migrations", True, "schema is current")


async def check_nats(client: NatsClient) -> HealthCheck:
    """NATS carries the live feeds only: without it writes still work, so the service
    is degraded, not down (the relay catches up when NATS is back)."""
    if not client.is_connected:
        return HealthCheck(
            "nats",
            False,
            "not connected: writes work, live feeds and the relay wait",
            "check VIBEHQ_NATS_URL, or unset it to use the embedded server",
            required=False,
        )
    try:
        await asyncio.wait_for(client.jetstream().account_info(), 5)
    except Exception as error:  # noqa: BLE001 - any failure means JetStream is not usable
        return HealthCheck(
            "nats",
            False,
            f"JetStream unavailable: {error}",
            "start nats-server with -js (JetStream enabled)",
            required=False,
        )
    return HealthCheck("nats", True, "JetStream ready")


def check_followers(lags: list[FollowerLag], *, nats_ok: bool) -> HealthCheck:
    """Are the projections and the relay running (here or in another instance) and
    moving? A relay held up while NATS is away only degrades the service."""
    stopped = [lag.name for lag in lags if lag.state == "stopped"]
    stuck = [lag for lag in lags if lag.state == "stuck"]
    if stopped:
        return HealthCheck(
            "followers",
            False,
            f"not running anywhere: {', '.join(stopped)}",
            "run `vibehq worker`, or `serve` with VIBEHQ_BACKGROUND=on",
        )
    if stuck:
        detail = "; ".join(
            f"{lag.name} stuck at position {lag.position} "
            f"({lag.lag_events} events waiting, oldest {lag.lag_seconds:.0f}s)"
            for lag in stuck
        )
        held_by_nats = not nats_ok and all(lag.name == "relay" for lag in stuck)
        return HealthCheck(
            "followers",
            False,
            detail,
            "see the follower's log lines; `vibehq projections status` shows each",
            required=not held_by_nats,
        )
    behind = sum(lag.lag_events for lag in lags)
    return HealthCheck(
        "followers", True, "running" + (f", {behind} events to fold" if behind else "")
    )


async def check_dependencies(database_url: str, nats_url: str) -> list[HealthCheck]:
    """Connect to each dependency afresh and check it (`vibehq doctor`)."""
    checks: list[HealthCheck] = []
    try:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    except (OSError, asyncpg.PostgresError) as error:
        checks.append(
            HealthCheck("postgres", False, f"unreachable: {error}", "check VIBEHQ_DATABASE_URL")
        )
    else:
        try:
            checks += [await check_postgres(pool), await check_migrations(pool)]
        finally:
            await pool.close()
    problem = await nats_unreachable(nats_url)
    if problem is not None:
        checks.append(
            HealthCheck("nats", False, f"unreachable: {problem}", "check VIBEHQ_NATS_URL")
        )
        return checks
    try:
        client = await _connect_once(nats_url)
    except Exception as error:  # noqa: BLE001 - it went away between the two attempts
        checks.append(HealthCheck("nats", False, f"unreachable: {error}", "check VIBEHQ_NATS_URL"))
    else:
        try:
            checks.append(await check_nats(client))
        finally:
            await client.close()
    return checks


async def _connect_once(nats_url: str, seen: list[Exception] | None = None) -> NatsClient:
    """Two quick attempts: nats-py otherwise retries its first connect for about two
    minutes (and forever with `max_reconnect_attempts=0`). Its errors go to `seen`
    instead of a traceback in the log per attempt."""

    async def keep(error: Exception) -> None:
        if seen is not None:
            seen.append(error)

    return await nats.connect(
        nats_url,
        connect_timeout=3,
        allow_reconnect=False,
        max_reconnect_attempts=1,
        reconnect_time_wait=0.5,
        error_cb=keep,
        name="vibehq probe",
    )


async def nats_unreachable(nats_url: str) -> str | None:
    """Why NATS at `nats_url` cannot be used right now, or None when it can."""
    seen: list[Exception] = []
    try:
        client = await _connect_once(nats_url, seen)
    except Exception as error:  # noqa: BLE001 - nats raises many types for "cannot connect"
        cause = seen[-1] if seen else error  # "connection refused" says more than "no servers"
        return str(cause) or type(cause).__name__
    await client.close()
    return None
