"""Prometheus metrics: what each process counts, and one text page for a scrape.

Counters and histograms live in the process that counts them. With several HTTP
workers, `serve` points `PROMETHEUS_MULTIPROC_DIR` at a fresh folder before any of
them starts, and every process writes its values there; a scrape, whichever worker
answers it, adds them up (`prometheus_client`'s multiprocess mode). What the database
knows (follower lag, open incidents) is read at scrape time, so it is the same
whichever process answers.

Labels never carry ids: routes are templates (`/workspaces/{workspace_id}`), event
types and follower names are the build's own short lists. The metric list, and
what an operator alerts on: docs/observability.md, ops/prometheus/alerts.yml.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from domain.contracts import FollowerLag

MULTIPROCESS_DIR: Final = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE: Final = CONTENT_TYPE_LATEST

_LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_GROUP_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class PoolStats(Protocol):
    def get_size(self) -> int: ...
    def get_idle_size(self) -> int: ...
    def get_max_size(self) -> int: ...


class Metrics:
    """This process's counters, histograms and live gauges."""

    def __init__(self) -> None:
        # Chosen now, not at import: `serve` may set the multiprocess folder after
        # prometheus_client was imported, and before any metric exists.
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "vibehq_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "vibehq_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.appended = Counter(
            "vibehq_events_appended",
            "Events appended to the log, by type (idempotent replays not counted).",
            ["type"],
            registry=r,
        )
        self.append_duration = Histogram(
            "vibehq_append_duration_seconds",
            "Time from asking the store to append until the append committed.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.append_group = Histogram(
            "vibehq_append_group_size",
            "Appends committed together in one group (group commit).",
            buckets=_GROUP_BUCKETS,
            registry=r,
        )
        self.follower_errors = Counter(
            "vibehq_follower_errors",
            "Failed batches of a follower (projection, relay, audit chain); the relay's "
            "are publish errors. Each is retried.",
            ["follower"],
            registry=r,
        )
        self.feed_clients = Gauge(
            "vibehq_feed_clients",
            "Open live feeds (WebSocket or SSE).",
            ["transport"],
            multiprocess_mode="livesum",
            registry=r,
        )
        self.feeds_dropped = Counter(
            "vibehq_feeds_dropped",
            "Live feeds cut off because their client read too slowly (lagged).",
            ["transport"],
            registry=r,
        )
        self.pool_connections = Gauge(
            "vibehq_db_pool_connections",
            "PostgreSQL connections of the request pools, by state (in_use, idle, max).",
            ["state"],
            multiprocess_mode="livesum",
            registry=r,
        )
        self.limit_decisions = Counter(
            "vibehq_rate_limit_decisions",
            "Rate-limit decisions by policy and outcome (allowed, denied). A denied request "
            "counts under the policy that refused it.",
            ["policy", "outcome"],
            registry=r,
        )
        self._pool: PoolStats | None = None
        self._pool_sampled = 0.0

    def watch_pool(self, pool: PoolStats) -> None:
        self._pool = pool
        self.sample_pool(now=True)

    def sample_pool(self, *, now: bool = False) -> None:
        """Record the pool's state (after requests: at most once a second, ~4 us)."""
        pool = self._pool
        if pool is None:
            return
        moment = time.monotonic()
        if not now and moment - self._pool_sampled < 1.0:
            return
        self._pool_sampled = moment
        size, idle = pool.get_size(), pool.get_idle_size()
        self.pool_connections.labels("in_use").set(size - idle)
        self.pool_connections.labels("idle").set(idle)
        self.pool_connections.labels("max").set(pool.get_max_size())


_metrics: Metrics | None = None


def metrics() -> Metrics:
    """This process's metrics, made on first use."""
    global _metrics
    if _metrics is None:
        _metrics = Metrics()
    return _metrics


@dataclass(frozen=True)
class LogState:
    """What the database says at scrape time (nothing when it could not be asked)."""

    lags: list[FollowerLag] = field(default_factory=list)
    open_incidents: int = 0
    reachable: bool = True


class _LogStateCollector(Collector):
    def __init__(self, state: LogState) -> None:
        self._state = state

    def collect(self) -> Iterable[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "vibehq_database_reachable",
            "1 when this scrape could read the log's state from PostgreSQL, else 0.",
            1 if self._state.reachable else 0,
        )
        if not self._state.reachable:
            return
        events = GaugeMetricFamily(
            "vibehq_follower_lag_events",
            "Events in the log a follower has not processed yet.",
            labels=["follower"],
        )
        seconds = GaugeMetricFamily(
            "vibehq_follower_lag_seconds",
            "Age of the oldest event a follower has not processed (0 when caught up).",
            labels=["follower"],
        )
        stuck = GaugeMetricFamily(
            "vibehq_follower_stuck",
            "1 when a follower is stuck or stopped (as /ready reports it), else 0.",
            labels=["follower"],
        )
        for lag in self._state.lags:
            events.add_metric([lag.name], lag.lag_events)
            seconds.add_metric([lag.name], lag.lag_seconds)
            stuck.add_metric([lag.name], 1 if lag.state in ("stuck", "stopped") else 0)
        yield events
        yield seconds
        yield stuck
        yield GaugeMetricFamily(
            "vibehq_incidents_open", "Incidents open or acknowledged.", self._state.open_incidents
        )


def exposition(state: LogState | None) -> bytes:
    """The Prometheus text page: every process's counters, plus the log's state."""
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = metrics().registry
    page = generate_latest(registry)
    if state is not None:
        scraped = CollectorRegistry()
        scraped.register(_LogStateCollector(state))
        page += generate_latest(scraped)
    return page
