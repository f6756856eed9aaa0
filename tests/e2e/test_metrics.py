"""`/metrics` as Prometheus scrapes it, from a two-worker serve under load."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from infrastructure.embedded.engines import Engines
from tests.conftest import ROOT
from tests.e2e.test_cli import vibehq
from tests.e2e.test_service import serving

pytestmark = pytest.mark.timeout(180)

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
PATCHES = 40
FOLLOWERS = {"workspaces", "delivery", "ops", "secrets", "relay", "audit"}


def scrape(base: str, token: str) -> dict[str, list[Any]]:
    """Samples by metric name, over a fresh connection (so any worker may answer)."""
    page = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(page.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def total(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    return sum(
        s.value
        for s in samples.get(name, [])
        if all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_metrics_add_up_every_workers_counts_under_load(
    engines: Engines, database_url: str
) -> None:
    env = {
        **os.environ,
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": engines.nats_url,
        "VIBEHQ_WORKERS": "2",
    }
    created = vibehq("tokens", "create", "--actor", "ui-factory", env=env)
    token = created.stdout.strip()
    auth = {"Authorization": f"Bearer {token}"}
    with serving(env, ROOT) as base:
        assert httpx.get(f"{base}/metrics").status_code == 401  # a token, like every route
        ws = httpx.post(f"{base}/workspaces", json={"name": "load"}, headers=auth).json()["id"]

        def submit(n: int) -> int:
            body = {
                "base_version": 1,  # each its own file: stale bases rebase cleanly
                "task_id": "T-load",
                "operations": [{"op": "create_file", "path": f"f{n}.txt", "content": "x\n"}],
            }
            # A new connection each time: the kernel spreads them over both workers.
            return httpx.post(
                f"{base}/workspaces/{ws}/patches", json=body, headers=auth
            ).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(submit, range(PATCHES)))
        assert statuses == [201] * PATCHES
        scrapes = [scrape(base, token) for _ in range(4)]

    route = "/workspaces/{workspace_id}/patches"
    for samples in scrapes:  # whichever worker answered, it counts both workers' requests
        assert (
            total(samples, "vibehq_http_requests_total", method="POST", route=route, status="201")
            == PATCHES
        )
        assert (
            total(samples, "vibehq_http_request_duration_seconds_count", method="POST", route=route)
            == PATCHES
        )
    samples = scrapes[-1]
    applied = total(samples, "vibehq_events_appended_total", type="Workspace.PatchApplied")
    assert applied == PATCHES
    assert total(samples, "vibehq_append_duration_seconds_count") >= PATCHES + 1
    assert total(samples, "vibehq_append_group_size_count") >= 1
    lagging = {s.labels["follower"] for s in samples["vibehq_follower_lag_events"]}
    assert lagging >= FOLLOWERS
    assert total(samples, "vibehq_database_reachable") == 1
    assert total(samples, "vibehq_incidents_open") == 0
    assert total(samples, "vibehq_db_pool_connections", state="max") >= 2 * 20
    # Bounded label values: no ids, whatever was requested.
    labels = [v for ss in samples.values() for s in ss for v in s.labels.values()]
    assert not [v for v in labels if UUID.search(v)]
