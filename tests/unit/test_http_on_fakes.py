"""The HTTP app on in-memory fakes: every controller, no PostgreSQL, no NATS.

The composition root's `bootstrap` builds the same use cases over the fakes of
tests/unit/fakes.py, and the app receives them by injection, so these tests run the
real handlers, guards, idempotency and problem mapping in a few milliseconds each.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from domain.contracts import HealthCheck, Scope
from infrastructure.settings import Settings
from interfaces.composition import Services, bootstrap
from interfaces.http.app import create_app
from tests.unit.fakes import (
    CaughtUpFollowers,
    EmptyDeliveryReports,
    InMemoryBlobStore,
    InMemoryEventStore,
    InMemoryTokenStore,
    InMemoryVault,
    LogSecretList,
    LogWorkspaceList,
    QuietOpsViews,
)

pytestmark = pytest.mark.timeout(30)


class Harness:
    def __init__(self, *, ready: bool = True, **settings: Any) -> None:
        self.settings = Settings(database_url="fake", nats_url="fake", **settings)
        self.store = InMemoryEventStore()
        self.ready = ready
        self.nats_up = True

        async def readiness() -> list[HealthCheck]:
            return [
                HealthCheck("postgres", self.ready, "fake"),
                HealthCheck("nats", self.nats_up, "fake", required=False),
            ]

        services = bootstrap(
            self.settings,
            store=self.store,
            blobs=InMemoryBlobStore(self.store),
            token_store=InMemoryTokenStore(),
            reports=EmptyDeliveryReports(),
            ops_views=QuietOpsViews(),
            workspace_list=LogWorkspaceList(self.store),
            secret_list=LogSecretList(self.store),
            followers=CaughtUpFollowers(),
            readiness=readiness,
            vault=InMemoryVault(),
        )
        self.services = services

    @asynccontextmanager
    async def source(self, settings: Settings) -> AsyncIterator[Services]:
        yield self.services

    @asynccontextmanager
    async def client(
        self, actor: str = "ui-factory", scope: Scope = "write"
    ) -> AsyncIterator[AsyncTestClient[Any]]:
        issued = await self.services.tokens.issue(
            actor=actor, kind="factory", scopes=[scope], name="", now=datetime.now(UTC)
        )
        app = create_app(self.settings, self.source)
        async with AsyncTestClient(app=app) as client:
            client.headers["Authorization"] = f"Bearer {issued.secret}"
            yield client


async def _workspace(client: AsyncTestClient[Any]) -> str:
    created = await client.post(
        "/workspaces", json={"name": "shop", "files": [{"path": "app.py", "content": "x = 1\n"}]}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_health_and_readiness_answer_from_the_injected_checks() -> None:
    harness = Harness(ready=False)
    async with harness.client() as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        not_ready = await client.get("/ready")
        assert not_ready.status_code == 503
        assert [c["ok"] for c in not_ready.json()["checks"]] == [False, True]
        harness.ready = True
        assert (await client.get("/ready")).status_code == 200
        # Without NATS, writes still work: degraded, still taking traffic.
        harness.nats_up = False
        degraded = await client.get("/ready")
        assert (degraded.status_code, degraded.json()["status"]) == (200, "degraded")


async def test_workspaces_are_created_patched_listed_and_read() -> None:
    harness = Harness()
    async with harness.client() as client:
        ws = await _workspace(client)
        submit = {
            "base_version": 2,
            "task_id": "T-1",
            "operations": [
                {
                    "op": "edit_file",
                    "path": "app.py",
                    "edits": [{"search": "x = 1", "replace": "x = 2"}],
                }
            ],
        }
        key = {"Idempotency-Key": "job-1"}
        applied = await client.post(f"/workspaces/{ws}/patches", json=submit, headers=key)
        assert applied.status_code == 201, applied.text
        again = await client.post(f"/workspaces/{ws}/patches", json=submit, headers=key)
        assert (again.status_code, again.headers["idempotent-replayed"]) == (201, "true")
        assert len(harness.store.log) == 3  # created, initial files, the patch: once

        content = await client.get(f"/workspaces/{ws}/files/app.py")
        assert content.content == b"x = 2\n"
        listed = (await client.get("/workspaces", params={"created_by": "ui-factory"})).json()
        assert [w["id"] for w in listed["items"]] == [ws]
        history = (await client.get(f"/workspaces/{ws}/patches")).json()
        assert [r["outcome"] for r in history["items"]] == ["applied", "applied"]


async def test_patches_are_shown_and_reverted() -> None:
    async with Harness().client() as client:
        ws = await _workspace(client)
        history = (await client.get(f"/workspaces/{ws}/patches")).json()["items"]
        [initial] = history
        shown = await client.get(f"/patches/{initial['patch_id']}")
        assert shown.json() == initial
        reverted = await client.post(
            f"/patches/{initial['patch_id']}/revert", json={"task_id": "T"}
        )
        assert (reverted.status_code, reverted.json()["outcome"]) == (201, "reverted")
        assert (await client.get(f"/workspaces/{ws}/files")).json()["files"] == {}


async def test_tasks_take_checks_and_deliveries_and_reports_are_pages() -> None:
    async with Harness().client() as client:
        ws = await _workspace(client)
        checks = await client.post(
            "/tasks/T-1/checks", json={"checks": [{"name": "unit", "status": "passed"}]}
        )
        assert checks.status_code == 201, checks.text
        delivered = await client.post(
            "/tasks/T-1/deliver", json={"summary": "done", "workspace_id": ws, "final_version": 2}
        )
        assert delivered.status_code == 201, delivered.text
        beyond = await client.post(
            "/tasks/T-1/deliver", json={"summary": "done", "workspace_id": ws, "final_version": 9}
        )
        assert (beyond.status_code, beyond.json()["field"]) == (422, "final_version")
        assert (await client.get("/tasks/T-1/delivery-report")).status_code == 404
        page = (await client.get("/delivery-reports")).json()
        assert page == {"items": [], "next_cursor": None, "as_of_position": 0}


async def test_ops_events_open_incidents_that_move_through_their_steps() -> None:
    async with Harness().client() as client:
        event = {"source": "builder", "kind": "build_failed", "severity": "error", "message": "x"}
        reported = await client.post("/ops/events", json=event)
        assert reported.status_code == 201, reported.text
        incident = reported.json()["incident_id"]
        assert reported.json()["incident_opened"] is True
        assert (await client.post(f"/ops/incidents/{incident}/resolve", json={})).status_code == 201
        twice = await client.post(f"/ops/incidents/{incident}/resolve", json={})
        assert (twice.status_code, twice.json()["type"].rsplit("/", 1)[1]) == (409, "conflict")
        assert (await client.get("/ops/overview")).status_code == 200


async def test_errors_are_mapped_by_kind_to_problems() -> None:
    async with Harness().client() as client:
        missing = await client.get("/workspaces/00000000-0000-0000-0000-000000000001")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        ws = await _workspace(client)
        assert (await client.post(f"/workspaces/{ws}/archive")).status_code == 200
        archived = await client.post(f"/workspaces/{ws}/archive")
        assert archived.status_code == 409
        bad = await client.get(f"/workspaces/{ws}/patches", params={"cursor": "nope"})
        assert (bad.status_code, bad.json()["field"]) == (422, "cursor")
        unknown = await client.get("/workspaces", headers={"Authorization": "Bearer nope"})
        assert unknown.status_code == 401


async def test_a_lenient_application_is_recorded_and_answered_so_a_reviewer_sees_it() -> None:
    harness = Harness()
    async with harness.client() as client:
        created = await client.post(
            "/workspaces", json={"name": "shop", "files": [{"path": "f", "content": "a\nb\nc\n"}]}
        )
        ws = created.json()["id"]
        body = {
            "base_version": 2,
            "task_id": "T-1",
            "operations": [
                {"op": "apply_diff", "path": "f", "diff": "@@ -1,1 +1,1 @@\n a\n-b\n+B\n c\n"}
            ],
        }
        applied = await client.post(f"/workspaces/{ws}/patches", json=body)
        assert applied.status_code == 201, applied.text
        [tolerance] = applied.json()["tolerances"]
        assert tolerance == {
            "operation": 0,
            "path": "f",
            "part": 0,
            "kind": "recounted",
            "detail": "@@ -1,1 +1,1 @@",
        }
        shown = await client.get(f"/patches/{applied.json()['patch_id']}")
        assert shown.json()["tolerances"] == [tolerance]  # read back from the event
        events = (await client.get(f"/workspaces/{ws}/events")).json()["items"]
        assert events[-1]["payload"]["tolerances"] == [tolerance]


async def test_a_dry_run_answers_what_would_happen_and_records_nothing() -> None:
    harness = Harness()
    async with harness.client() as client:
        created = await client.post(
            "/workspaces",
            json={"name": "shop", "files": [{"path": "a.py", "content": "x = 1\ny = 2\n"}]},
        )
        ws = created.json()["id"]
        envelope = (
            "*** Begin Patch\n*** Update File: a.py\n*** Move to: b.py\n@@\n-x = 1\n+x = 10\n"
            "*** Add File: c.py\n+z = 3\n*** End Patch\n"
        )
        body = {
            "base_version": 2,
            "task_id": "T-1",
            "operations": [{"op": "apply_patch", "patch": envelope}],
        }
        before = (len(harness.store.log), await harness.store.head_position())
        preview = await client.post(f"/workspaces/{ws}/patches?dry_run=true", json=body)
        assert preview.status_code == 200, preview.text
        answer = preview.json()
        assert (answer["outcome"], answer["version"]) == ("applied", 2)
        assert {(c["path"], c["change"]) for c in answer["changes"]} == {
            ("b.py", "renamed"),
            ("c.py", "added"),
        }
        assert "rename from a.py\nrename to b.py\n" in answer["diff"]
        assert "-x = 1\n+x = 10\n" in answer["diff"]
        refused = await client.post(
            f"/workspaces/{ws}/patches?dry_run=true",
            json={**body, "operations": [{"op": "delete_file", "path": "nope.py"}]},
        )
        assert (refused.status_code, refused.json()["reason"]) == (200, "file_missing")
        assert (len(harness.store.log), await harness.store.head_position()) == before
        assert list((await client.get(f"/workspaces/{ws}/files")).json()["files"]) == ["a.py"]


async def test_an_apply_patch_event_names_the_blob_of_the_text_as_sent() -> None:
    harness = Harness()
    async with harness.client() as client:
        created = await client.post("/workspaces", json={"name": "shop"})
        ws = created.json()["id"]
        text = "*** Begin Patch\n*** Add File: a.py\n+x = 1\n*** End Patch\n"
        body = {
            "base_version": 1,
            "task_id": "T",
            "operations": [{"op": "apply_patch", "patch": text}],
        }
        assert (await client.post(f"/workspaces/{ws}/patches", json=body)).status_code == 201
        events = (await client.get(f"/workspaces/{ws}/events")).json()["items"]
        [source] = events[-1]["payload"]["sources"]
        assert harness.store.blobs[source] == text.encode()
