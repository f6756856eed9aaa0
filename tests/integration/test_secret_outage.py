"""PostgreSQL stopped: no value leaves, because no release can be recorded; when it is
back, releases resume, and every value that left has its record."""

from __future__ import annotations

import asyncio
import secrets as random_secrets
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest

from infrastructure.embedded.engines import Engines
from infrastructure.embedded.postgres import EmbeddedPostgres
from tests.integration.api import Api, serve_on_own_postgres

pytestmark = pytest.mark.timeout(180)


async def test_with_postgresql_stopped_no_value_is_released(
    tmp_path: Path, engines: Engines
) -> None:
    async with serve_on_own_postgres(tmp_path / "pg", engines.nats_url) as (api, server, pool):
        await _releases_across_an_outage(api, server, pool)


async def _releases_across_an_outage(
    api: Api, server: EmbeddedPostgres, pool: asyncpg.Pool
) -> None:
    value = f"sk-{random_secrets.token_urlsafe(30)}"
    purpose = {"purpose": "provider:openai"}
    async with await api.as_("ui-factory", "write") as owner:
        assert (await owner.post("/secrets", json={"name": "k", "value": value})).is_success
        grant = {"principal": "llm-router", "purpose": "provider:openai"}
        assert (await owner.post("/secrets/k/grants", json=grant)).is_success
    issued = await api.tokens.issue(
        actor="llm-router", kind="service", scopes=["read"], name="", now=datetime.now(UTC)
    )
    answers: list[httpx.Response] = []
    async with httpx.AsyncClient(
        base_url=str(api.client.base_url),
        headers={"Authorization": f"Bearer {issued.secret}"},
        timeout=30,
    ) as router:
        answers.append(await router.post("/secrets/k/resolve", json=purpose))
        await asyncio.to_thread(server.crash)
        during = [
            await router.post("/secrets/k/resolve", json=purpose),
            await router.post("/secrets/k/lease", json=purpose),
        ]
        await asyncio.to_thread(server.start)  # the same port: the pool finds it again
        async with asyncio.timeout(30):
            while (
                after := await router.post("/secrets/k/resolve", json=purpose)
            ).status_code != 200:
                answers.append(after)
                await asyncio.sleep(0.2)
        answers.append(after)
    assert answers[0].status_code == 200
    assert [a.status_code for a in during] == [503, 503]
    assert all(value not in a.text for a in during)
    released = [a for a in answers if a.status_code == 200]
    assert all(a.json()["value"] == value for a in released)
    # Every value that left has its record, and nothing else was recorded as released.
    recorded = await pool.fetchval(
        "SELECT count(*) FROM vibehq_events WHERE event_type = 'Secret.Released'"
    )
    assert recorded == len(released)
