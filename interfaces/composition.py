"""The composition root: the one place that turns Settings into running adapters.

Everything else receives its collaborators; only this module decides which concrete
classes play the ports, so swapping an adapter is a change here and nowhere else.

`bootstrap(...)` builds the use cases and read ports the interfaces use (`Services`)
from ports it is handed; `open_runtime` hands it the production adapters (PostgreSQL,
NATS), and tests hand it in-memory fakes (tests/unit/fakes.py) to drive the HTTP app
without either server (compare cosmicpython's `bootstrap`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import TypedDict

import asyncpg
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from opentelemetry.sdk.trace import TracerProvider

from application.access import TokenService, TokenStore
from application.aggregates import AggregateRepository
from application.caches import AggregateCache, ContentCache
from application.delivery import DeliveryService
from application.env_profiles import EnvProfileService
from application.limits import LimitService
from application.ops import OpsService
from application.patch_manager import PatchManager
from application.patch_preview import PatchPreviewer
from application.ports import BlobStore, EventStore, RateLimiter, SecretVault, SnapshotStore
from application.read_models import (
    DeliveryReports,
    Followers,
    OpsViews,
    SecretList,
    WorkspaceList,
)
from application.secret_leases import SecretLeases
from application.secrets import SecretService
from application.sharing import TaskAccessManager, WorkspaceAccessManager
from application.workspace_queries import WorkspaceQueries
from domain.contracts import HealthCheck
from infrastructure.audit.keys import signing_key
from infrastructure.audit.notary import AUDIT, Notary
from infrastructure.background import Background
from infrastructure.blob_store import PostgresBlobStore
from infrastructure.embedded.common import EngineError
from infrastructure.embedded.engines import Engines, start_engines
from infrastructure.event_store.migrator import migrate
from infrastructure.event_store.partitions import PartitionKeeper
from infrastructure.event_store.postgres_store import PostgresEventStore
from infrastructure.fanout.connection import (
    PASSING,
    NatsAccess,
    connect_nats,
    nats_access,
    patiently,
)
from infrastructure.fanout.jetstream import ensure_streams, stream_settings
from infrastructure.fanout.relay import RELAY, OutboxRelay
from infrastructure.fanout.reloads import Reloads
from infrastructure.fanout.subjects import Subjects
from infrastructure.fanout.terminal import TerminalPublisher
from infrastructure.health import (
    check_fanout,
    check_followers,
    check_migrations,
    check_nats,
    check_postgres,
    nats_unreachable,
)
from infrastructure.limits import PostgresRateLimiter, default_limits, follow_limit_policies
from infrastructure.log_follower import LeasedFollower
from infrastructure.metrics import LogState, metrics
from infrastructure.pool import connect, open_pool
from infrastructure.projections.checkpoints import PostgresFollowers
from infrastructure.projections.delivery_reports import PostgresDeliveryReports
from infrastructure.projections.ops import PostgresOpsViews, open_incident_count
from infrastructure.projections.registry import all_projections, ensure_read_models
from infrastructure.projections.runner import ProjectionRunner
from infrastructure.projections.secrets import PostgresSecretList
from infrastructure.projections.workspaces import PostgresWorkspaceList
from infrastructure.secrets.keys import key_ring
from infrastructure.secrets.redaction import REDACTOR
from infrastructure.secrets.vault import PostgresVault
from infrastructure.secrets.watch import SecretWatch
from infrastructure.settings import Settings, data_folder, mask_password, patch_limits
from infrastructure.snapshot_store import PostgresSnapshotStore
from infrastructure.telemetry import setup_tracing
from infrastructure.token_store import PostgresTokenStore

log = logging.getLogger(__name__)


class FollowerTuning(TypedDict):
    """How every log follower polls, batches and lingers (from Settings)."""

    poll_interval: float
    batch_size: int
    linger: float


@dataclass(frozen=True)
class LiveFeeds:
    """What the WebSocket/SSE handlers read from: JetStream and its subject names."""

    js: JetStreamContext
    subjects: Subjects
    terminal: TerminalPublisher
    buffer: int
    #: Where a feed reads an event the relay published without its payload.
    log: EventStore


@dataclass(frozen=True)
class Services:
    """What the interfaces use: use cases and read ports, each typed, none a driver."""

    patches: PatchManager
    access: WorkspaceAccessManager
    task_access: TaskAccessManager
    secrets: SecretService
    #: Values kept under a lease, for high-rate readers in this process (the router).
    leases: SecretLeases
    profiles: EnvProfileService
    previews: PatchPreviewer
    queries: WorkspaceQueries
    delivery: DeliveryService
    ops: OpsService
    tokens: TokenService
    reports: DeliveryReports
    ops_views: OpsViews
    workspace_list: WorkspaceList
    secret_list: SecretList
    followers: Followers
    readiness: Callable[[], Awaitable[list[HealthCheck]]]
    #: Live feeds need NATS; None where there is none (the fakes' app serves no feeds).
    feeds: LiveFeeds | None = None
    #: Limit policies and admission (PostgreSQL decides; the fakes' app admits all).
    limits: LimitService | None = None
    #: The log's state for a metrics scrape; None: the page has counters only.
    log_state: Callable[[], Awaitable[LogState]] | None = None


def bootstrap(
    settings: Settings,
    *,
    store: EventStore,
    blobs: BlobStore,
    token_store: TokenStore,
    reports: DeliveryReports,
    ops_views: OpsViews,
    workspace_list: WorkspaceList,
    secret_list: SecretList,
    followers: Followers,
    readiness: Callable[[], Awaitable[list[HealthCheck]]],
    snapshots: SnapshotStore | None = None,
    feeds: LiveFeeds | None = None,
    log_state: Callable[[], Awaitable[LogState]] | None = None,
    vault: SecretVault,
    limiter: RateLimiter | None = None,
) -> Services:
    """The use cases over the given ports, tuned by `settings`."""
    repository = AggregateRepository(
        store,
        snapshots=snapshots,
        snapshot_every=settings.snapshot_every,
        cache=AggregateCache(settings.aggregate_cache),
        max_event_bytes=settings.max_event_bytes,
        masks=REDACTOR,
    )
    ops = OpsService(store, repository)  # also records refused attempts (a DenialLog)
    secrets = SecretService(store, repository, vault, masks=REDACTOR)
    return Services(
        patches=PatchManager(
            store,
            blobs,
            repository,
            limits=patch_limits(settings),
            contents=ContentCache(settings.content_cache_mb * 1024 * 1024),
            denials=ops,
            masks=REDACTOR,
        ),
        access=WorkspaceAccessManager(store, repository, ops),
        task_access=TaskAccessManager(store, repository, ops),
        secrets=secrets,
        leases=SecretLeases(secrets),
        profiles=EnvProfileService(store, repository, secrets),
        previews=PatchPreviewer(blobs, repository, limits=patch_limits(settings), denials=ops),
        queries=WorkspaceQueries(store, blobs, repository),
        delivery=DeliveryService(store, repository, denials=ops),
        ops=ops,
        tokens=TokenService(token_store),
        reports=reports,
        ops_views=ops_views,
        workspace_list=workspace_list,
        secret_list=secret_list,
        followers=followers,
        readiness=readiness,
        feeds=feeds,
        log_state=log_state,
        limits=LimitService(store, repository, limiter, default_limits(settings)),
    )


@dataclass
class Runtime:
    """Everything a running process holds; close() releases it in reverse order."""

    settings: Settings
    engines: Engines
    pool: asyncpg.Pool
    store: PostgresEventStore
    nats: NatsClient
    tracer_provider: TracerProvider | None
    services: Services
    subjects: Subjects
    js: JetStreamContext
    background: Background | None = None
    watch: SecretWatch | None = None
    policies: Reloads | None = None

    def log_followers(self) -> list[LeasedFollower]:
        """The projections and the relay, ready to run in this process."""
        dsn = self.engines.database_url
        tuning = FollowerTuning(
            poll_interval=self.settings.poll_interval,
            batch_size=self.settings.follower_batch,
            linger=self.settings.follower_linger,
        )
        runners: list[LeasedFollower] = [
            ProjectionRunner(dsn=dsn, store=self.store, projection=p, **tuning)
            for p in all_projections()
        ]
        relay = OutboxRelay(
            dsn=dsn,
            store=self.store,
            js=self.js,
            subjects=self.subjects,
            max_payload=self.nats.max_payload,
            streams=stream_settings(self.settings),
            **tuning,
        )
        notary = Notary(
            dsn=dsn,
            store=self.store,
            key=signing_key(self.settings),
            every=self.settings.checkpoint_every,
            seconds=self.settings.checkpoint_seconds,
            **tuning,
        )
        return [*runners, relay, notary]

    def start_background(self, only: Collection[str] | None = None) -> Background:
        """The followers (those named in `only`, if given) and the partition keeper."""
        followers = [f for f in self.log_followers() if only is None or f.name in only]
        keeper = PartitionKeeper(dsn=self.engines.database_url)
        self.background = Background(followers, [keeper])
        self.background.start()
        return self.background

    async def close(self) -> None:
        if self.background is not None:
            await self.background.stop()
        if self.watch is not None:
            await self.watch.stop()
        if self.policies is not None:
            await self.policies.stop()
        await self.store.close()
        if self.nats.is_connected:
            await self.nats.drain()
        await self.pool.close()
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        await asyncio.to_thread(self.engines.stop)


async def open_engines(settings: Settings) -> Engines:
    return await asyncio.to_thread(
        start_engines,
        database_url=settings.database_url,
        nats_url=settings.nats_url,
        data_dir=data_folder(settings),
    )


async def require_nats(nats_url: str, access: NatsAccess | None = None) -> None:
    """Fail in seconds, with one line saying what to fix, when NATS cannot be reached."""
    problem = await nats_unreachable(nats_url, access)
    if problem is not None:
        raise EngineError(
            f"NATS at {mask_password(nats_url)} is unreachable ({problem}); check "
            "VIBEHQ_NATS_URL, or unset it to use the embedded server"
        )


async def run_migrations(database_url: str) -> list[str]:
    conn = await connect(database_url)
    try:
        applied = await migrate(conn)
    finally:
        await conn.close()
    return [f"{m.version:04d}_{m.name}" for m in applied]


async def open_runtime(settings: Settings, *, apply_migrations: bool = True) -> Runtime:
    """Start or connect to the engines, migrate, and build the adapters."""
    tracer_provider = setup_tracing(settings.tracing, otlp_endpoint=settings.otlp_endpoint)
    engines = await open_engines(settings)
    try:
        if apply_migrations:
            for name in await run_migrations(engines.database_url):
                log.info("applied migration %s", name)
        pool = await open_pool(engines.database_url, max_size=settings.db_pool_size)
        store = PostgresEventStore(
            pool,
            dsn=engines.database_url,
            poll_interval=settings.poll_interval,
            append_groups=settings.append_groups,
        )
        await store.start()
        access = nats_access(settings)
        await require_nats(engines.nats_url, access)
        client = await connect_nats(engines.nats_url, name="vibehq", access=access)
    except BaseException:
        await asyncio.to_thread(engines.stop)
        raise
    await ensure_read_models(engines.database_url)
    followers = PostgresFollowers(
        pool,
        known=[*(p.name for p in all_projections()), RELAY, AUDIT],
        stuck_after=settings.stuck_after,
    )
    subjects = Subjects(settings.nats_prefix)
    # Short API timeouts: a stream electing a leader answers in seconds, or not at all.
    js = client.jetstream(timeout=2.0)
    # Feeds and terminal writers need the streams before the relay starts. A cluster
    # electing a leader may not answer for seconds: then start anyway (degraded); the
    # relay makes the streams when JetStream answers.
    try:
        await patiently(lambda: ensure_streams(js, subjects, stream_settings(settings)), within=15)
    except PASSING as error:
        log.warning("JetStream is not answering (%s); starting without it for now", error)

    async def readiness() -> list[HealthCheck]:
        checks = list(
            await asyncio.gather(
                check_postgres(pool),
                check_migrations(pool),
                check_nats(client, [subjects.events_stream, subjects.terminal_stream]),
            )
        )
        if checks[0].ok:
            nats_ok = checks[2].ok
            lags = await followers.lags()
            checks.append(check_followers(lags, nats_ok=nats_ok))
            behind = check_fanout(lags, settings.fanout_behind)
            if behind is not None:
                checks.append(behind)
        return checks

    async def log_state() -> LogState:
        lags, incidents = await asyncio.gather(followers.lags(), open_incident_count(pool))
        return LogState(lags=lags, open_incidents=incidents)

    metrics().watch_pool(pool)
    ring = key_ring(settings)
    services = bootstrap(
        settings,
        store=store,
        blobs=PostgresBlobStore(pool),
        snapshots=PostgresSnapshotStore(pool),
        token_store=PostgresTokenStore(pool),
        reports=PostgresDeliveryReports(pool),
        ops_views=PostgresOpsViews(pool, followers),
        workspace_list=PostgresWorkspaceList(pool),
        secret_list=PostgresSecretList(pool),
        followers=followers,
        readiness=readiness,
        feeds=LiveFeeds(
            js, subjects, TerminalPublisher(js, subjects, keys=ring), settings.stream_buffer, store
        ),
        log_state=log_state,
        vault=PostgresVault(pool, ring),
        limiter=PostgresRateLimiter(pool),
    )
    watch = SecretWatch(services.secrets.mask_all, services.leases.drop)
    await watch.start(client, subjects)
    policies = None
    if services.limits is not None:
        policies = await follow_limit_policies(client, subjects, services.limits)
    return Runtime(
        settings, engines, pool, store, client, tracer_provider, services, subjects, js,
        watch=watch, policies=policies,
    )  # fmt: skip
