"""Every workspace/patch endpoint and its error paths, over real HTTP on real PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import gc
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from infrastructure.embedded.engines import Engines
from tests.integration.api import Api, serve_api

pytestmark = pytest.mark.timeout(120)


@pytest_asyncio.fixture
async def api(database_url: str, engines: Engines, pool: asyncpg.Pool) -> AsyncIterator[Api]:
    async with serve_api(database_url, engines.nats_url, pool) as served:
        yield served


@pytest_asyncio.fixture
async def factory(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    async with await api.as_("ui-factory", "write") as client:
        yield client


async def new_workspace(client: httpx.AsyncClient, **files: str) -> str:
    response = await client.post(
        "/workspaces",
        json={"name": "shop", "files": [{"path": p, "content": c} for p, c in files.items()]},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def submit(
    client: httpx.AsyncClient, ws: str, base: int, *ops: dict[str, Any], **headers: str
) -> httpx.Response:
    return await client.post(
        f"/workspaces/{ws}/patches",
        json={"base_version": base, "task_id": "task-7", "operations": list(ops)},
        headers=headers,
    )


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def test_a_serving_worker_keeps_its_startup_objects_out_of_collections(
    api: Api,
) -> None:
    """The app froze them once its runtime was open (interfaces/gc_pauses.py)."""
    assert (await api.client.get("/health")).status_code == 200
    assert gc.get_freeze_count() > 0


async def test_tokens_gate_every_route_but_health(api: Api) -> None:
    assert (await api.client.get("/health")).status_code == 200
    missing = problem(await api.client.get("/workspaces/00000000-0000-0000-0000-000000000000"), 401)
    assert missing["field"] == "Authorization"
    bogus = await api.client.post(
        "/workspaces", json={"name": "x"}, headers={"Authorization": "Bearer vhq_nope"}
    )
    assert "unknown or revoked" in problem(bogus, 401)["detail"]
    async with await api.as_("auditor", "read") as reader:
        forbidden = problem(await reader.post("/workspaces", json={"name": "x"}), 403)
        assert "'write' scope" in forbidden["detail"]


async def test_a_patch_goes_in_and_its_outcome_comes_out(factory: httpx.AsyncClient) -> None:
    ws = await new_workspace(factory, **{"src/app.py": "def run():\n    return 1\n"})
    applied = await submit(
        factory,
        ws,
        2,
        {
            "op": "edit_file",
            "path": "src/app.py",
            "edits": [{"search": "return 1", "replace": "return 2"}],
        },
        {"op": "create_file", "path": "README.md", "content": "# shop\n"},
    )
    assert applied.status_code == 201, applied.text
    record = applied.json()
    assert (record["outcome"], record["version"], record["author"]) == ("applied", 3, "ui-factory")
    assert (record["lines_added"], record["lines_removed"]) == (2, 1)
    assert [c["path"] for c in record["changes"]] == ["README.md", "src/app.py"]

    content = await factory.get(f"/workspaces/{ws}/files/src/app.py")
    assert content.content == b"def run():\n    return 2\n"
    assert content.headers["x-workspace-version"] == "3"
    assert (await factory.get(f"/patches/{record['patch_id']}")).json() == record

    events = (await factory.get(f"/workspaces/{ws}/events")).json()["items"]
    assert [e["type"] for e in events] == [
        "Workspace.Created",
        "Workspace.PatchApplied",
        "Workspace.PatchApplied",
    ]
    assert {e["actor"] for e in events} == {"ui-factory"}
    summary = (await factory.get(f"/workspaces/{ws}")).json()
    assert (summary["version"], summary["file_count"]) == (3, 2)


async def test_conflicts_are_409_and_invalid_patches_422_both_recorded(
    factory: httpx.AsyncClient,
) -> None:
    ws = await new_workspace(factory, a="1\n")
    await submit(factory, ws, 2, {"op": "write_file", "path": "a", "content": "2\n"})
    stale = problem(await submit(factory, ws, 2, {"op": "delete_file", "path": "a"}), 409)
    assert (stale["reason"], stale["path"]) == ("stale_base", "a")
    assert stale["conflicts"] == [{"path": "a", "changed_in_version": 3}]

    unsafe = problem(
        await submit(factory, ws, 3, {"op": "create_file", "path": "../x", "content": ""}), 422
    )
    assert (unsafe["reason"], unsafe["field"], unsafe["operation"]) == (
        "invalid_path",
        "operations[0]",
        0,
    )

    no_match = problem(
        await submit(
            factory,
            ws,
            3,
            {"op": "write_file", "path": "b", "content": "ok\n"},
            {"op": "edit_file", "path": "a", "edits": [{"search": "zzz", "replace": ""}]},
        ),
        409,
    )
    assert (no_match["reason"], no_match["operation"]) == ("edit_no_match", 1)
    assert "closest line" not in no_match["detail"] or "1" in no_match["detail"]

    rejected = (await factory.get(f"/workspaces/{ws}/patches?outcome=rejected")).json()["items"]
    assert [r["reason"] for r in rejected] == ["stale_base", "invalid_path", "edit_no_match"]
    assert (await factory.get(f"/workspaces/{ws}/files")).json()["files"].keys() == {"a"}


async def test_malformed_bodies_name_the_field(factory: httpx.AsyncClient) -> None:
    ws = await new_workspace(factory)
    body = problem(
        await submit(factory, ws, 1, {"op": "create_file", "path": 7, "content": ""}), 422
    )
    assert body["field"] == "operations[0].path"
    unknown = problem(await submit(factory, ws, 1, {"op": "chmod", "path": "a"}), 422)
    assert unknown["field"] == "operations[0].op"
    missing = problem(await factory.post("/workspaces/not-a-uuid/patches", json={}), 404)
    assert missing["status"] == 404
    bad_at = problem(await factory.get(f"/workspaces/{ws}/files?at=yesterday"), 422)
    assert bad_at["field"] == "at"
    beyond = problem(await factory.get(f"/workspaces/{ws}/files?at=99"), 422)
    assert "outside 1..1" in beyond["detail"]
    gone = problem(await factory.get("/workspaces/00000000-0000-0000-0000-000000000001"), 404)
    assert "does not exist" in gone["detail"]


async def test_idempotency_key_returns_the_first_outcome(factory: httpx.AsyncClient) -> None:
    ws = await new_workspace(factory, a="1\n")
    op = {"op": "write_file", "path": "a", "content": "2\n"}
    first = await submit(factory, ws, 2, op, **{"Idempotency-Key": "job-42"})
    again = await submit(factory, ws, 2, op, **{"Idempotency-Key": "job-42"})
    assert first.status_code == again.status_code == 201
    assert again.json()["patch_id"] == first.json()["patch_id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert (await factory.get(f"/workspaces/{ws}")).json()["version"] == 3

    other = {"op": "write_file", "path": "a", "content": "3\n"}
    reused = problem(await submit(factory, ws, 3, other, **{"Idempotency-Key": "job-42"}), 422)
    assert reused["field"] == "Idempotency-Key"


async def test_concurrent_submissions_at_one_base_never_both_apply(
    factory: httpx.AsyncClient,
) -> None:
    ws = await new_workspace(factory, a="1\n", b="1\n")
    # Every write really changes "a": a write of identical bytes changes nothing, so it
    # would (rightly) not make the others stale.
    same_file = await asyncio.gather(
        *(
            submit(factory, ws, 2, {"op": "write_file", "path": "a", "content": f"v{n}\n"})
            for n in range(6)
        )
    )
    assert sorted(r.status_code for r in same_file) == [201, 409, 409, 409, 409, 409]
    other_files = await asyncio.gather(
        submit(factory, ws, 3, {"op": "create_file", "path": "c", "content": "c\n"}),
        submit(factory, ws, 3, {"op": "create_file", "path": "d", "content": "d\n"}),
    )
    assert [r.status_code for r in other_files] == [201, 201]  # rebased: disjoint files


async def test_revert_and_revert_conflict(factory: httpx.AsyncClient) -> None:
    ws = await new_workspace(factory, a="1\n")
    patch = (
        await submit(factory, ws, 2, {"op": "write_file", "path": "a", "content": "2\n"})
    ).json()
    revert = await factory.post(f"/patches/{patch['patch_id']}/revert", json={"task_id": "undo"})
    assert revert.status_code == 201, revert.text
    assert revert.json()["outcome"] == "reverted"
    assert (await factory.get(f"/workspaces/{ws}/files/a")).content == b"1\n"
    again = problem(
        await factory.post(f"/patches/{patch['patch_id']}/revert", json={"task_id": "undo"}), 409
    )
    assert again["reason"] == "revert_conflict"
    missing = await factory.post(
        "/patches/00000000-0000-0000-0000-000000000002/revert", json={"task_id": "undo"}
    )
    problem(missing, 404)


async def test_time_travel_and_diff(factory: httpx.AsyncClient) -> None:
    ws = await new_workspace(factory, a="1\n")
    await asyncio.sleep(0.01)
    moment = datetime.now(UTC).isoformat()
    await asyncio.sleep(0.01)
    await submit(factory, ws, 2, {"op": "write_file", "path": "a", "content": "2\n"})
    old = await factory.get(f"/workspaces/{ws}/files/a", params={"at": moment})
    assert old.content == b"1\n"
    assert (await factory.get(f"/workspaces/{ws}/files/a?at=2")).content == b"1\n"
    listing = (await factory.get(f"/workspaces/{ws}/files", params={"at": "3"})).json()
    assert listing["version"] == 3
    diff = await factory.get(f"/workspaces/{ws}/diff", params={"from": "2", "to": "3"})
    assert diff.headers["content-type"].startswith("text/x-diff")
    assert diff.text == "diff --git a/a b/a\n--- a/a\n+++ b/a\n@@ -1 +1 @@\n-1\n+2\n"


async def test_binary_files_and_archive(factory: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    ws = await new_workspace(factory)
    blob = bytes(range(256)) * 40
    encoded = base64.b64encode(blob).decode()
    response = await submit(
        factory,
        ws,
        1,
        {"op": "create_file", "path": "img/logo.png", "content": encoded, "encoding": "base64"},
        {"op": "create_file", "path": "img/copy.png", "content": encoded, "encoding": "base64"},
    )
    assert response.status_code == 201, response.text
    assert (await factory.get(f"/workspaces/{ws}/files/img/logo.png")).content == blob
    # Content-addressed: two files, one blob row.
    assert await pool.fetchval("SELECT count(*) FROM vibehq_blobs") == 1

    archived = await factory.post(f"/workspaces/{ws}/archive")
    assert archived.json()["archived"] is True
    refused = problem(
        await submit(factory, ws, 3, {"op": "delete_file", "path": "img/copy.png"}), 409
    )
    assert "archived" in refused["detail"]


async def test_openapi_documents_errors_as_problem_json(api: Api) -> None:
    schema = (await api.client.get("/schema/openapi.json")).json()
    responses = schema["paths"]["/workspaces/{workspace_id}/patches"]["post"]["responses"]
    assert {"201", "401", "403", "404", "409", "422", "503"} <= responses.keys()
    assert "application/problem+json" in responses["409"]["content"]
    assert "BearerToken" in schema["components"]["securitySchemes"]


async def test_auth_off_makes_every_caller_the_local_admin(
    database_url: str, engines: Engines, pool: asyncpg.Pool
) -> None:
    async with serve_api(database_url, engines.nats_url, pool, auth="off") as open_api:
        ws = await new_workspace(open_api.client, a="1\n")
        events = (await open_api.client.get(f"/workspaces/{ws}/events")).json()["items"]
        assert {e["actor"] for e in events} == {"local"}


async def test_creating_a_workspace_twice_with_one_key_creates_it_once(
    factory: httpx.AsyncClient,
) -> None:
    body = {"name": "once", "files": [{"path": "a", "content": "1\n"}]}
    key = {"Idempotency-Key": "create-1"}
    first = await factory.post("/workspaces", json=body, headers=key)
    again = await factory.post("/workspaces", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    changed = await factory.post("/workspaces", json={**body, "name": "other"}, headers=key)
    assert problem(changed, 422)["field"] == "Idempotency-Key"
