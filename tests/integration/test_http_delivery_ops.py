"""Delivery reports and ops views over HTTP, with the projection runners live in the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from infrastructure.embedded.engines import Engines
from tests.integration.api import Api, serve_api
from tests.integration.test_http_patches import new_workspace, problem

pytestmark = pytest.mark.timeout(120)


@pytest_asyncio.fixture
async def api(database_url: str, engines: Engines, pool: asyncpg.Pool) -> AsyncIterator[Api]:
    async with serve_api(database_url, engines.nats_url, pool) as served:
        yield served


@pytest_asyncio.fixture
async def factory(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    async with await api.as_("ui-factory", "write") as client:
        yield client


async def patch(client: httpx.AsyncClient, ws: str, base: int, *ops: dict[str, Any]) -> Any:
    response = await client.post(
        f"/workspaces/{ws}/patches",
        json={"base_version": base, "task_id": "T-1", "operations": list(ops)},
    )
    assert response.status_code in (201, 409, 422), response.text
    return response.json()


async def fresh(client: httpx.AsyncClient, url: str, position: int, **params: Any) -> Any:
    """GET a read model once it includes `position`."""
    response = await client.get(url, params={"after_position": position, **params})
    assert response.status_code == 200, response.text
    assert response.headers["vibehq-caught-up"] == "true"
    return response.json()


async def test_a_delivery_report_follows_patches_checks_and_the_delivery(
    factory: httpx.AsyncClient,
) -> None:
    ws = await new_workspace(factory, **{"app.py": "a\nb\n"})
    applied = await patch(
        factory,
        ws,
        2,
        {"op": "write_file", "path": "app.py", "content": "a\nB\nc\n"},
        {"op": "create_file", "path": "README.md", "content": "hi\n"},
    )
    rejected = await patch(factory, ws, 2, {"op": "delete_file", "path": "app.py"})
    assert rejected["reason"] == "stale_base"
    reverted = await factory.post(f"/patches/{applied['patch_id']}/revert", json={"task_id": "T-1"})
    assert reverted.status_code == 201, reverted.text

    checks = await factory.post(
        "/tasks/T-1/checks",
        json={
            "patch_id": applied["patch_id"],
            "checks": [
                {"name": "unit", "status": "passed", "duration_ms": 1200, "summary": "41 passed"},
                {"name": "lint", "status": "failed", "summary": "E501 app.py:3"},
            ],
        },
    )
    assert checks.status_code == 201, checks.text
    report = await fresh(factory, "/tasks/T-1/delivery-report", checks.json()["position"])
    assert report["status"] == "failed"
    [mine] = report["factories"]
    assert mine["factory"] == "ui-factory"
    assert (mine["patches_applied"], mine["patches_rejected"], mine["patches_reverted"]) == (
        1,
        1,
        1,
    )
    assert mine["files_touched"] == 2
    assert (mine["lines_added"], mine["lines_removed"]) == (2 + 1 + 1, 1 + 2 + 1)
    assert mine["workspaces"] == [ws]
    assert [(c["name"], c["status"], c["runs"]) for c in mine["checks"]] == [
        ("lint", "failed", 1),
        ("unit", "passed", 1),
    ]
    assert mine["duration_seconds"] > 0

    green = await factory.post(
        "/tasks/T-1/checks", json={"checks": [{"name": "lint", "status": "passed"}]}
    )
    report = await fresh(factory, "/tasks/T-1/delivery-report", green.json()["position"])
    assert report["status"] == "in_progress"
    assert {c["name"]: c["runs"] for c in report["factories"][0]["checks"]} == {
        "lint": 2,
        "unit": 1,
    }

    delivered = await factory.post(
        "/tasks/T-1/deliver",
        json={
            "summary": "Adds README, reworks app.py",
            "workspace_id": ws,
            "final_version": 5,
            "artefacts": ["README.md"],
            "cost": {"input_tokens": 1200, "output_tokens": 300, "usd": 0.02},
        },
    )
    assert delivered.status_code == 201, delivered.text
    report = await fresh(factory, "/tasks/T-1/delivery-report", delivered.json()["position"])
    assert report["status"] == "delivered"
    delivery = report["factories"][0]["delivery"]
    assert (delivery["final_version"], delivery["artefacts"]) == (5, ["README.md"])
    assert delivery["cost"]["output_tokens"] == 300


async def test_delivery_inputs_are_checked_and_errors_name_the_field(
    factory: httpx.AsyncClient,
) -> None:
    ws = await new_workspace(factory, a="1\n")
    body = {"summary": "done", "workspace_id": ws, "final_version": 9}
    assert problem(await factory.post("/tasks/T-2/deliver", json=body), 422)["field"] == (
        "final_version"
    )
    body["workspace_id"] = "00000000-0000-0000-0000-000000000001"
    assert problem(await factory.post("/tasks/T-2/deliver", json=body), 422)["field"] == (
        "workspace_id"
    )
    unknown_patch = {
        "patch_id": "00000000-0000-0000-0000-000000000001",
        "checks": [{"name": "unit", "status": "passed"}],
    }
    assert problem(await factory.post("/tasks/T-2/checks", json=unknown_patch), 422)["field"] == (
        "patch_id"
    )
    bad_status = {"checks": [{"name": "unit", "status": "green"}]}
    assert problem(await factory.post("/tasks/T-2/checks", json=bad_status), 422)["field"] == (
        "checks[0].status"
    )
    problem(await factory.get("/tasks/nothing-here/delivery-report"), 404)
    assert problem(await factory.get("/delivery-reports", params={"cursor": "zz"}), 422)[
        "field"
    ] == ("cursor")
    problem(await factory.get("/delivery-reports", params={"status": "done"}), 422)


async def test_delivery_reports_filter_and_page(factory: httpx.AsyncClient, api: Api) -> None:
    ws = await new_workspace(factory, a="1\n")
    grant = {"actor": "data-factory", "access": "read"}
    assert (await factory.post(f"/workspaces/{ws}/grants", json=grant)).status_code == 200
    async with await api.as_("data-factory", "write") as other:
        last = None
        for n in range(5):
            task = f"T-page-{n}"
            client = factory if n % 2 == 0 else other
            response = await client.post(
                "/tasks/" + task + "/deliver",
                json={"summary": "ok", "workspace_id": ws, "final_version": 2},
            )
            assert response.status_code == 201, response.text
            last = response.json()["position"]
    assert last is not None
    async with await api.as_("operator", "admin") as admin:
        everything = await fresh(admin, "/delivery-reports", last, limit=2)
        seen = [(i["task_id"], i["factory"]) for i in everything["items"]]
        cursor = everything["next_cursor"]
        while cursor:
            page = (
                await admin.get("/delivery-reports", params={"limit": 2, "cursor": cursor})
            ).json()
            seen += [(i["task_id"], i["factory"]) for i in page["items"]]
            cursor = page["next_cursor"]
        assert len(seen) == len(set(seen)) == 6  # five deliveries + the workspace-init row
        data_only = (
            await admin.get("/delivery-reports", params={"factory": "data-factory"})
        ).json()
        assert sorted(i["task_id"] for i in data_only["items"]) == ["T-page-1", "T-page-3"]
        delivered = (await admin.get("/delivery-reports", params={"status": "delivered"})).json()
        assert len(delivered["items"]) == 5
    # A factory's list holds the tasks it owns (or was granted), not the other's.
    mine = (await factory.get("/delivery-reports")).json()
    assert sorted(i["task_id"] for i in mine["items"]) == [
        "T-page-0",
        "T-page-2",
        "T-page-4",
        "workspace-init",
    ]


async def test_a_task_is_its_first_writers_and_others_need_a_grant(
    factory: httpx.AsyncClient, api: Api, pool: asyncpg.Pool
) -> None:
    ws = await new_workspace(factory, a="1\n")
    checks = {"checks": [{"name": "unit", "status": "passed"}]}
    opened = await factory.post("/tasks/T-own/checks", json=checks)
    assert opened.status_code == 201, opened.text
    async with (
        await api.as_("data-factory", "write") as other,
        await api.as_("operator", "admin") as admin,
    ):
        other_ws = await new_workspace(other, b="1\n")
        # Without a grant: no checks, no delivery, no report, no grants of its own.
        failing = {"checks": [{"name": "unit", "status": "failed"}]}
        assert problem(await other.post("/tasks/T-own/checks", json=failing), 403)
        delivery = {"summary": "mine now", "workspace_id": other_ws, "final_version": 2}
        assert problem(await other.post("/tasks/T-own/deliver", json=delivery), 403)
        assert problem(await other.get("/tasks/T-own/delivery-report"), 403)
        self_grant = {"actor": "data-factory", "access": "write"}
        assert problem(await other.post("/tasks/T-own/grants", json=self_grant), 403)
        # Its patches may name the task, but they do not count in the owner's report.
        patched = await other.post(
            f"/workspaces/{other_ws}/patches",
            json={
                "base_version": 2,
                "task_id": "T-own",
                "operations": [{"op": "write_file", "path": "b", "content": "2\n"}],
            },
        )
        assert patched.status_code == 201, patched.text
        report = await fresh(factory, "/tasks/T-own/delivery-report", patched.json()["position"])
        assert [f["factory"] for f in report["factories"]] == ["ui-factory"]
        assert report["status"] == "in_progress"
        # A read grant shows the report; a write grant lets it contribute, and counts it.
        read = {"actor": "data-factory", "access": "read"}
        granted = await factory.post("/tasks/T-own/grants", json=read)
        assert granted.status_code == 200, granted.text
        assert (granted.json()["owner"], granted.json()["grants"]) == (
            "ui-factory",
            {"data-factory": "read"},
        )
        seen = await fresh(other, "/tasks/T-own/delivery-report", granted.json()["position"])
        # (its own part, which it always sees, and the owner's)
        assert [f["factory"] for f in seen["factories"]] == ["data-factory", "ui-factory"]
        assert problem(await other.post("/tasks/T-own/checks", json=failing), 403)
        write = await factory.post("/tasks/T-own/grants", json=self_grant)
        assert write.status_code == 200, write.text
        red = await other.post("/tasks/T-own/checks", json=failing)
        assert red.status_code == 201, red.text
        report = await fresh(factory, "/tasks/T-own/delivery-report", red.json()["position"])
        assert [f["factory"] for f in report["factories"]] == ["data-factory", "ui-factory"]
        assert report["status"] == "failed"
        # It may deliver only a workspace it may read.
        theirs = {"summary": "done", "workspace_id": ws, "final_version": 2}
        assert problem(await other.post("/tasks/T-own/deliver", json=theirs), 403)
        # Revoked: it is out of the report again; an admin sees what counts, as the owner.
        revoked = await factory.delete("/tasks/T-own/grants/data-factory")
        assert revoked.status_code == 200, revoked.text
        after = await fresh(admin, "/tasks/T-own/delivery-report", revoked.json()["position"])
        assert [f["factory"] for f in after["factories"]] == ["ui-factory"]
        assert after["status"] == "in_progress"
        assert problem(await other.get("/tasks/T-own/delivery-report"), 403)
    # Every refusal is on record, in the refused actor's name.
    refusals = await pool.fetchval(
        "SELECT count(*) FROM vibehq_events "
        "WHERE event_type = 'OpsEvent.Reported' AND actor = 'data-factory'"
    )
    assert refusals == 7


async def test_incidents_open_on_errors_and_move_through_their_lifecycle(
    factory: httpx.AsyncClient, api: Api
) -> None:
    beat = await factory.post("/ops/heartbeats", json={"source": "builder", "interval_seconds": 30})
    assert beat.status_code == 201, beat.text
    overview = await fresh(factory, "/ops/overview", beat.json()["position"])
    assert [(s["source"], s["health"]) for s in overview["sources"]] == [("builder", "healthy")]

    error = {"source": "builder", "kind": "build_failed", "severity": "error", "message": "exit 2"}
    first = (await factory.post("/ops/events", json=error)).json()
    second = (await factory.post("/ops/events", json=error)).json()
    assert first["incident_opened"] is True
    assert second["incident_opened"] is False
    assert first["incident_id"] == second["incident_id"]
    incident = first["incident_id"]

    view = await fresh(factory, f"/ops/incidents/{incident}", second["recorded"]["position"])
    assert (view["status"], view["events"], view["opened_by"]) == ("open", 2, "ui-factory")
    overview = await fresh(factory, "/ops/overview", second["recorded"]["position"])
    [builder] = overview["sources"]
    assert builder["health"] == "degraded"
    assert builder["errors"]["5m"] == 2
    assert [a["severity"] for a in overview["recent_alerts"]] == ["error", "error"]
    assert [i["id"] for i in overview["open_incidents"]] == [incident]
    assert {f["name"] for f in overview["followers"]} == {
        "delivery",
        "ops",
        "workspaces",
        "secrets",
        "relay",
        "audit",
    }

    async with await api.as_("oncall", "write") as oncall:
        ack = await oncall.post(f"/ops/incidents/{incident}/ack", json={"note": "looking"})
        assert ack.status_code == 201, ack.text
        assert problem(await oncall.post(f"/ops/incidents/{incident}/ack"), 409)
        resolved = await oncall.post(f"/ops/incidents/{incident}/resolve", json={"note": "fixed"})
        view = await fresh(oncall, f"/ops/incidents/{incident}", resolved.json()["position"])
        assert (view["status"], view["acknowledged_by"], view["resolved_by"], view["note"]) == (
            "resolved",
            "oncall",
            "oncall",
            "fixed",
        )
        problem(await oncall.post(f"/ops/incidents/{incident}/resolve"), 409)

    again = (await factory.post("/ops/events", json=error)).json()
    assert again["incident_opened"] is True
    view = await fresh(
        factory, f"/ops/incidents/{incident}", again["incident_recorded"]["position"]
    )
    assert (view["status"], view["occurrence"], view["events"]) == ("open", 2, 1)

    manual = await factory.post(
        "/ops/incidents", json={"source": "gateway", "title": "TLS cert expires Friday"}
    )
    assert manual.status_code == 201, manual.text
    open_ones = await fresh(factory, "/ops/incidents", manual.json()["position"], status="open")
    assert sorted(i["source"] for i in open_ones["items"]) == ["builder", "gateway"]
    problem(await factory.post("/ops/incidents", json={"source": "gateway", "title": "again"}), 409)


async def test_ops_input_errors(factory: httpx.AsyncClient) -> None:
    bad = {"source": "builder", "kind": "x", "severity": "fatal"}
    assert problem(await factory.post("/ops/events", json=bad), 422)["field"] == "severity"
    no_source = {"source": "", "kind": "x", "severity": "info"}
    assert problem(await factory.post("/ops/events", json=no_source), 422)["field"] == "source"
    missing = "/ops/incidents/00000000-0000-0000-0000-000000000001"
    problem(await factory.get(missing), 404)
    problem(await factory.post(missing + "/ack"), 404)
