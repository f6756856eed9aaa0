"""Checks of each dependency, shared by `GET /ready` and `vibehq doctor`.

Each check says what is wrong *and what to do*, because the person reading it is
usually starting the service for the first time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import asyncpg
import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import PeerInfo
from nats.js.errors import NotFoundError

from domain.contracts import FollowerLag, HealthCheck
from infrastructure.event_store.migrator import MigrationError, pending_migrations
from infrastructure.fanout.connection import NatsAccess, nats_servers, server_name
from infrastructure.pool import UNAVAILABLE, open_pool

#: How long a stream may take to answer before it counts as leaderless.
STREAM_INFO_TIMEOUT: Final = 1.5
#: A replica not heard from for this long (nanoseconds) counts as gone.
REPLICA_SILENT_NS: Final = 3_000_000_000


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


async def check_nats(
    client: NatsClient, streams: Sequence[str] = (), *, describe: bool = False
) -> HealthCheck:
    """NATS carries the live feeds only: without it writes still work, so the service
    is degraded, not down (the relay catches up when NATS is back). So is it when one
    of `streams` has no leader (a cluster electing one) or fewer current replicas than
    it is configured with. With `describe` (doctor, not the public `/ready`), a healthy
    answer names each stream's leader, replicas and size, and a stream not created yet
    is no failure: `serve` and `worker` create it when they start."""
    if not client.is_connected:
        return HealthCheck(
            "nats",
            False,
            "not connected: writes work, live feeds and the relay wait",
            "check VIBEHQ_NATS_URL, or unset it to use the embedded server",
            required=False,
        )
    js = client.jetstream(timeout=STREAM_INFO_TIMEOUT)
    try:
        await asyncio.wait_for(js.account_info(), 5)
    except Exception as error:  # noqa: BLE001 - any failure means JetStream is not usable
        return HealthCheck(
            "nats",
            False,
            f"JetStream unavailable: {error}",
            "start nats-server with -js (JetStream enabled)",
            required=False,
        )
    states = [await stream_state(js, name) for name in streams]
    problems = [s.problem for s in states if s.problem and not (describe and s.missing)]
    if problems:
        return HealthCheck(
            "nats",
            False,
            "; ".join(problems) + ": writes work, fan-out waits",
            "a cluster electing a leader recovers in seconds; otherwise bring the stream's "
            "servers back (`vibehq doctor` shows each stream)",
            required=False,
        )
    described = "".join(f"; {s.summary}" for s in states) if describe else ""
    return HealthCheck("nats", True, "JetStream ready" + described)


@dataclass(frozen=True)
class StreamState:
    """A stream's leader and replicas, and what is wrong with them (if anything)."""

    name: str
    summary: str
    problem: str = ""
    missing: bool = False


async def stream_state(js: JetStreamContext, name: str) -> StreamState:
    try:
        info = await asyncio.wait_for(js.stream_info(name), STREAM_INFO_TIMEOUT + 0.5)
    except NotFoundError:
        return StreamState(
            name,
            f"{name} not created yet (serve and worker create it)",
            f"stream {name} does not exist",
            missing=True,
        )
    except Exception as error:  # noqa: BLE001 - no answer: no leader to give one
        why = str(error) or type(error).__name__
        return StreamState(name, f"{name} silent", f"stream {name} has no leader ({why})")
    wanted = info.config.num_replicas or 1
    cluster = info.cluster
    if cluster is None or (not cluster.replicas and wanted == 1):
        leader = cluster.leader if cluster is not None and cluster.leader else "this server"
        return StreamState(name, f"{name}: leader {leader}, 1 replica, {info.state.messages} msgs")
    if not cluster.leader:
        return StreamState(name, f"{name} leaderless", f"stream {name} has no leader")
    current = 1 + sum(1 for replica in cluster.replicas or [] if _in_touch(replica))
    summary = (
        f"{name}: leader {cluster.leader}, {current}/{wanted} replicas current, "
        f"{info.state.messages} msgs"
    )
    if current < wanted:
        return StreamState(
            name, summary, f"stream {name} has {current} of {wanted} replicas current"
        )
    return StreamState(name, summary)


def _in_touch(replica: PeerInfo) -> bool:
    """A replica that is online and was heard from lately (one a few operations behind
    under load is still in touch; a dead one stops being heard from)."""
    return not replica.offline and (
        bool(replica.current) or (replica.active or 0) < REPLICA_SILENT_NS
    )


def check_fanout(lags: list[FollowerLag], behind: float) -> HealthCheck | None:
    """Degraded when the relay trails the log by more than `behind` seconds."""
    relay = next((lag for lag in lags if lag.name == "relay"), None)
    if relay is None or relay.lag_seconds <= behind:
        return None
    return HealthCheck(
        "fanout",
        False,
        f"the relay is {relay.lag_seconds:.0f}s behind the log ({relay.lag_events} events): "
        "writes work, live feeds lag",
        "see the relay's log lines and the nats check; it catches up by itself",
        required=False,
    )


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


async def check_dependencies(
    database_url: str,
    nats_url: str,
    streams: Sequence[str] = (),
    access: NatsAccess | None = None,
) -> list[HealthCheck]:
    """Connect to each dependency afresh and check it (`vibehq doctor`); both at once,
    so a verdict takes as long as the slowest, a few seconds at worst."""
    database, broker = await asyncio.gather(
        _check_database(database_url), _check_broker(nats_url, streams, access or NatsAccess())
    )
    return [*database, *broker]


async def _check_database(database_url: str) -> list[HealthCheck]:
    try:
        pool = await open_pool(database_url, max_size=2)
    except (OSError, asyncpg.PostgresError) as error:
        why = str(error) or type(error).__name__
        return [HealthCheck("postgres", False, f"unreachable: {why}", "check VIBEHQ_DATABASE_URL")]
    try:
        return [await check_postgres(pool), await check_migrations(pool)]
    finally:
        await pool.close()


async def _check_broker(
    nats_url: str, streams: Sequence[str], access: NatsAccess
) -> list[HealthCheck]:
    client = await _probe(nats_url, access)
    if isinstance(client, str):
        return [HealthCheck("nats", False, f"unreachable: {client}", _nats_fix(client))]
    try:
        known = ", ".join(server_name(url) for url in client.servers)
        server = server_name(client.connected_url)
        return [
            HealthCheck("nats", True, f"connected to {server} (servers: {known})"),
            await check_nats(client, streams, describe=True),
        ]
    finally:
        await client.close()


def _nats_fix(problem: str) -> str:
    if "authorization" in problem.lower() or "authentication" in problem.lower():
        return (
            "give vibehq its NATS credentials: user:password@ or token@ in VIBEHQ_NATS_URL, "
            "or VIBEHQ_NATS_TOKEN, VIBEHQ_NATS_CREDS or VIBEHQ_NATS_NKEY"
        )
    if "ssl" in problem.lower() or "certificate" in problem.lower() or "tls" in problem.lower():
        return "check VIBEHQ_NATS_TLS_CA (and VIBEHQ_NATS_TLS_CERT/KEY for mutual TLS)"
    return "check VIBEHQ_NATS_URL"


async def _connect_once(
    nats_url: str, access: NatsAccess, seen: list[Exception] | None = None
) -> NatsClient:
    """Two quick attempts: nats-py otherwise retries its first connect for about two
    minutes (and forever with `max_reconnect_attempts=0`). Its errors go to `seen`
    instead of a traceback in the log per attempt."""

    async def keep(error: Exception) -> None:
        if seen is not None:
            seen.append(error)

    return await nats.connect(
        nats_servers(nats_url),
        connect_timeout=3,
        allow_reconnect=False,
        max_reconnect_attempts=1,
        reconnect_time_wait=0.5,
        error_cb=keep,
        name="vibehq probe",
        **access.options(),
    )


async def nats_unreachable(nats_url: str, access: NatsAccess | None = None) -> str | None:
    """Why NATS at `nats_url` cannot be used right now, or None when it can."""
    client = await _probe(nats_url, access or NatsAccess())
    if isinstance(client, str):
        return client
    await client.close()
    return None


async def _probe(nats_url: str, access: NatsAccess) -> NatsClient | str:
    """A connected client, or why there is none (one line)."""
    seen: list[Exception] = []
    try:
        return await _connect_once(nats_url, access, seen)
    except Exception as error:  # noqa: BLE001 - nats raises many types for "cannot connect"
        cause = seen[-1] if seen else error  # "connection refused" says more than "no servers"
        if isinstance(cause, TimeoutError):
            return "no answer within 3s"
        return str(cause) or type(cause).__name__
