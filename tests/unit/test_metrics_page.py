"""`/metrics` on fakes: it counts requests by route template, and still answers (saying
so) when the database cannot be asked for the log's state."""

from __future__ import annotations

import dataclasses

import pytest
from prometheus_client.parser import text_string_to_metric_families

from infrastructure.metrics import LogState
from tests.unit.test_http_on_fakes import Harness, _workspace

pytestmark = pytest.mark.timeout(30)


def _values(page: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(page)
        for s in family.samples
        if s.name == name
    }


async def test_requests_are_counted_by_route_template_and_a_db_outage_is_reported() -> None:
    harness = Harness()

    async def unreachable() -> LogState:
        raise OSError("connection refused")

    harness.services = dataclasses.replace(harness.services, log_state=unreachable)
    async with harness.client() as client:
        before = _values((await client.get("/metrics")).text, "vibehq_http_requests_total")
        ws = await _workspace(client)
        assert (await client.get(f"/workspaces/{ws}")).status_code == 200
        page = await client.get("/metrics")
    assert page.status_code == 200
    after = _values(page.text, "vibehq_http_requests_total")
    key = (("method", "GET"), ("route", "/workspaces/{workspace_id}"), ("status", "200"))
    assert after[key] - before.get(key, 0) == 1
    assert _values(page.text, "vibehq_database_reachable") == {(): 0.0}
