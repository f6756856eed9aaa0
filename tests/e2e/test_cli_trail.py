"""`vibehq audit trail`: who did what, when, with which token."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from infrastructure.embedded.engines import Engines
from tests.e2e.test_cli import vibehq
from tests.integration.api import Api, serve_api
from tests.integration.test_http_patches import new_workspace, submit

pytestmark = pytest.mark.timeout(120)


async def test_the_trail_names_actor_token_and_what_happened(
    database_url: str, engines: Engines, pool: asyncpg.Pool
) -> None:
    async with serve_api(database_url, engines.nats_url, pool) as api:
        issued = await api.tokens.issue(
            actor="ui-factory", kind="factory", scopes=["write"], name="ui-ci", now=_now()
        )
        other = await api.as_("data-factory", "write")
        async with other:
            ours = await _client(api, issued.secret)
            async with ours:
                ws = await new_workspace(ours, a="1\n")
                await submit(ours, ws, 2, {"op": "write_file", "path": "a", "content": "2\n"})
                await new_workspace(other, b="1\n")
        await api.tokens.revoke(issued.info.id, now=_now())
    env = {"VIBEHQ_DATABASE_URL": database_url, "VIBEHQ_NATS_URL": engines.nats_url}

    result = await asyncio.to_thread(
        vibehq, "audit", "trail", "--actor", "ui-factory", "--json", env=env
    )
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["event_type"] for e in entries] == [
        "Workspace.Created",
        "Workspace.PatchApplied",
        "Workspace.PatchApplied",
    ]
    assert {(e["actor"], e["token_id"], e["token_name"]) for e in entries} == {
        ("ui-factory", str(issued.info.id), "ui-ci")
    }
    assert all(e["token_revoked"] for e in entries)

    table = await asyncio.to_thread(
        vibehq, "audit", "trail", "--workspace", ws, env={**env, "COLUMNS": "200"}
    )
    assert table.returncode == 0, table.stderr
    assert "ui-ci (" in table.stdout
    assert "revoked" in table.stdout
    assert "data-factory" not in table.stdout
    assert "3 event(s)" in table.stdout

    later = await asyncio.to_thread(
        vibehq, "audit", "trail", "--since", "2999-01-01T00:00:00Z", "--json", env=env
    )
    assert (later.returncode, later.stdout) == (0, "")
    bad = await asyncio.to_thread(vibehq, "audit", "trail", "--since", "7", env=env)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "vibehq: --since '7' is not an ISO 8601 moment"


def _now() -> datetime:
    return datetime.now(UTC)


async def _client(api: Api, secret: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=str(api.client.base_url), headers={"Authorization": f"Bearer {secret}"}
    )
