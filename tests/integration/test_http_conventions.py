"""One HTTP convention: every recording POST answers a retry the same way.

Sent twice with one `Idempotency-Key`, a POST records once, answers the second time
with the first status and body, and marks it `Idempotent-Replayed: true`. The test
walks every POST route the OpenAPI document lists, so a new one cannot skip it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from infrastructure.embedded.engines import Engines
from tests.integration.api import Api, serve_api
from tests.integration.test_http_patches import new_workspace

pytestmark = pytest.mark.timeout(120)

Setup = Callable[[httpx.AsyncClient], Awaitable[tuple[str, dict[str, Any]]]]


async def _workspace(client: httpx.AsyncClient) -> str:
    return await new_workspace(client, **{"app.py": "x = 1\n"})


async def _applied_patch(client: httpx.AsyncClient) -> tuple[str, str]:
    ws = await _workspace(client)
    response = await client.post(
        f"/workspaces/{ws}/patches",
        json={
            "base_version": 2,
            "task_id": "T-1",
            "operations": [{"op": "write_file", "path": "app.py", "content": "x = 2\n"}],
        },
    )
    assert response.status_code == 201, response.text
    return ws, response.json()["patch_id"]


async def _incident(client: httpx.AsyncClient) -> str:
    response = await client.post(
        "/ops/incidents", json={"source": f"svc-{uuid.uuid4().hex[:6]}", "title": "down"}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["stream_id"])


async def create_workspace(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    return "/workspaces", {"name": "shop", "files": [{"path": "a.txt", "content": "a\n"}]}


async def archive(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    return f"/workspaces/{await _workspace(client)}/archive", {}


async def grant(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    return f"/workspaces/{await _workspace(client)}/grants", {
        "actor": "data-factory",
        "access": "read",
    }


async def grant_task(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    task = f"T-{uuid.uuid4().hex[:8]}"
    opened = await client.post(
        f"/tasks/{task}/checks", json={"checks": [{"name": "unit", "status": "passed"}]}
    )
    assert opened.status_code == 201, opened.text
    return f"/tasks/{task}/grants", {"actor": "data-factory", "access": "write"}


async def submit_patch(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    ws = await _workspace(client)
    operation = {"op": "write_file", "path": "app.py", "content": "x = 3\n"}
    return f"/workspaces/{ws}/patches", {
        "base_version": 2,
        "task_id": "T-1",
        "operations": [operation],
    }


async def submit_conflicting_patch(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    ws = await _workspace(client)
    operation = {"op": "delete_file", "path": "missing.py"}
    return f"/workspaces/{ws}/patches", {
        "base_version": 2,
        "task_id": "T-1",
        "operations": [operation],
    }


async def revert(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    _, patch_id = await _applied_patch(client)
    return f"/patches/{patch_id}/revert", {"task_id": "T-1"}


async def report_checks(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    return "/tasks/T-9/checks", {"checks": [{"name": "unit", "status": "passed"}]}


async def deliver(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    ws = await _workspace(client)
    return "/tasks/T-9/deliver", {"summary": "done", "workspace_id": ws, "final_version": 2}


async def ops_event(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    body = {"source": "builder", "kind": "build_failed", "severity": "error", "message": "x"}
    return "/ops/events", body


async def heartbeat(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    return "/ops/heartbeats", {"source": "builder", "interval_seconds": 30}


async def open_incident(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    return "/ops/incidents", {"source": "db", "title": "replica lag"}


async def acknowledge(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    return f"/ops/incidents/{await _incident(client)}/ack", {"note": "on it"}


async def resolve(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    return f"/ops/incidents/{await _incident(client)}/resolve", {"note": "fixed"}


#: POSTs outside the Idempotency-Key convention, and why.
NOT_RECORDED = {
    "/terminal/{session_id}/output": "the writer's sequence number (terminal output is "
    "fan-out, not a fact: tests/integration/test_terminal_writes.py)",
    "/secrets/{name}/resolve": "every release is recorded, a retry too: it is a new "
    "release of the value (tests/integration/test_secrets.py)",
    "/env-profiles/{name}/resolve": "as a secret's resolve, once per variable",
    "/secrets/{name}/lease": "as a resolve: each lease is recorded, a retry is a new one",
}


async def _secret(client: httpx.AsyncClient) -> str:
    name = f"s-{uuid.uuid4().hex[:10]}"
    created = await client.post("/secrets", json={"name": name, "value": "v" * 24})
    assert created.status_code == 201, created.text
    return name


async def create_secret(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    return "/secrets", {"name": f"s-{uuid.uuid4().hex[:10]}", "value": "w" * 24}


async def rotate_secret(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    return f"/secrets/{await _secret(client)}/versions", {"value": "z" * 24}


async def grant_secret(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    return f"/secrets/{await _secret(client)}/grants", {"principal": "llm-router", "purpose": "git"}


async def shred_secret(client: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    name = await _secret(client)
    return f"/secrets/{name}/shred", {"confirm": name}


RECORDING_POSTS: dict[str, Setup] = {
    "/workspaces": create_workspace,
    "/workspaces/{workspace_id}/archive": archive,
    "/workspaces/{workspace_id}/grants": grant,
    "/workspaces/{workspace_id}/patches": submit_patch,
    "/patches/{patch_id}/revert": revert,
    "/tasks/{task_id}/checks": report_checks,
    "/tasks/{task_id}/deliver": deliver,
    "/tasks/{task_id}/grants": grant_task,
    "/secrets": create_secret,
    "/secrets/{name}/versions": rotate_secret,
    "/secrets/{name}/grants": grant_secret,
    "/secrets/{name}/shred": shred_secret,
    "/ops/events": ops_event,
    "/ops/heartbeats": heartbeat,
    "/ops/incidents": open_incident,
    "/ops/incidents/{incident_id}/ack": acknowledge,
    "/ops/incidents/{incident_id}/resolve": resolve,
}


@pytest_asyncio.fixture
async def api(database_url: str, engines: Engines, pool: asyncpg.Pool) -> AsyncIterator[Api]:
    async with serve_api(database_url, engines.nats_url, pool) as served:
        yield served


async def _events(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM vibehq_events")
    return count


@pytest.mark.parametrize(
    "setup",
    [*RECORDING_POSTS.values(), submit_conflicting_patch],
    ids=[*RECORDING_POSTS, "a rejected patch"],
)
async def test_a_retried_post_records_once_and_answers_the_first_status_marked_replayed(
    api: Api, pool: asyncpg.Pool, setup: Setup
) -> None:
    async with await api.as_("ui-factory", "write") as client:
        path, body = await setup(client)
        key = {"Idempotency-Key": f"retry-{uuid.uuid4().hex}"}
        before = await _events(pool)
        first = await client.post(path, json=body, headers=key)
        recorded = await _events(pool)
        again = await client.post(path, json=body, headers=key)

    assert first.status_code in (200, 201, 409), first.text
    assert recorded > before
    assert await _events(pool) == recorded  # the retry recorded nothing
    assert again.status_code == first.status_code
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert _without_duplicate(again.json()) == _without_duplicate(first.json())


def _without_duplicate(answer: Any) -> Any:
    """The answer less its `duplicate` flags (true on the replay, nested ones included)."""
    if isinstance(answer, dict):
        return {k: _without_duplicate(v) for k, v in answer.items() if k != "duplicate"}
    return answer


async def test_every_post_route_is_a_recording_post_that_follows_the_convention(
    api: Api,
) -> None:
    schema = (await api.client.get("/schema/openapi.json")).json()
    posts = {
        re.sub(r"\{(\w+)\}", lambda m: "{" + m.group(1) + "}", path)
        for path, item in schema["paths"].items()
        if "post" in item
    }
    assert posts == set(RECORDING_POSTS) | set(NOT_RECORDED)
    for path in RECORDING_POSTS:
        parameters = schema["paths"][path]["post"].get("parameters", [])
        assert any(p["name"] == "Idempotency-Key" for p in parameters), path


async def _pages(client: httpx.AsyncClient, path: str, **params: Any) -> list[list[Any]]:
    """Every page of a list, following `next_cursor`; each page checked for the shape."""
    pages: list[list[Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_cursor", "as_of_position"}, path
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


async def test_every_list_is_a_page_with_a_cursor(api: Api) -> None:
    async with (
        await api.as_("ui-factory", "write") as ui,
        await api.as_("data-factory", "write") as data,
    ):
        mine = [await _workspace(ui) for _ in range(3)]
        theirs = await new_workspace(data, **{"b.txt": "b\n"})
        hidden = await new_workspace(data, **{"c.txt": "c\n"})  # never shown to ui
        shared = {"actor": "ui-factory", "access": "read"}
        assert (await data.post(f"/workspaces/{theirs}/grants", json=shared)).status_code == 200
        response = await ui.post(
            f"/workspaces/{mine[0]}/patches",
            json={
                "base_version": 2,
                "task_id": "T-1",
                "operations": [{"op": "write_file", "path": "app.py", "content": "x = 2\n"}],
            },
        )
        position = response.json()["position"]
        for _ in range(3):
            await _incident(ui)

        pages = await _pages(ui, "/workspaces", limit=2, after_position=position)
        assert [len(p) for p in pages] == [2, 2]
        listed = [w["id"] for page in pages for w in page]
        assert listed == [theirs, *reversed(mine)]  # newest first, no overlap
        assert hidden not in listed  # data-factory's, and not granted to ui-factory
        [by_ui] = await _pages(ui, "/workspaces", created_by="ui-factory")
        assert {w["id"] for w in by_ui} == set(mine)
        first = next(w for w in by_ui if w["id"] == mine[0])
        assert (first["version"], first["file_count"], first["patches_applied"]) == (3, 1, 2)
        assert first == (await ui.get(f"/workspaces/{mine[0]}")).json() | {"duplicate": False}
        assert await _pages(ui, "/workspaces", name="no-such-name") == [[]]

        history = await _pages(ui, f"/workspaces/{mine[0]}/patches", limit=1)
        assert [r["version"] for page in history for r in page] == [2, 3]
        events = await _pages(ui, f"/workspaces/{mine[0]}/events", limit=2)
        assert [e["stream_version"] for page in events for e in page] == [1, 2, 3]
        incidents = await _pages(ui, "/ops/incidents", limit=2)
        assert sum(len(page) for page in incidents) == 3
        await _pages(ui, "/delivery-reports", limit=1)

        bad = await ui.get("/workspaces", params={"cursor": "not-a-cursor"})
        assert bad.status_code == 422
        assert bad.json()["field"] == "cursor"
