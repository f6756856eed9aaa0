"""Secrets against real PostgreSQL and real cryptography: sealed at rest, released only
to a granted service and recorded first, rotated, bound to their place, shredded."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets as random_secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
import pytest_asyncio
from cryptography.exceptions import InvalidTag
from websockets.asyncio.client import connect

from application.aggregates import CommandContext
from application.ports import SealedValue
from application.secrets import ReleaseRefused
from domain.secrets import secret_stream_id
from infrastructure.embedded.engines import Engines
from infrastructure.secrets.keys import LocalKeyRing
from infrastructure.secrets.redaction import RedactSecrets
from infrastructure.secrets.vault import PostgresVault
from tests.integration.api import Api, serve_api
from tests.integration.test_http_delivery_ops import fresh

pytestmark = pytest.mark.timeout(120)


@pytest_asyncio.fixture
async def api(database_url: str, engines: Engines, pool: asyncpg.Pool) -> AsyncIterator[Api]:
    async with serve_api(database_url, engines.nats_url, pool) as served:
        yield served


async def service(api: Api, actor: str) -> httpx.AsyncClient:
    issued = await api.tokens.issue(
        actor=actor, kind="service", scopes=["read"], name="", now=datetime.now(UTC)
    )
    return httpx.AsyncClient(
        base_url=str(api.client.base_url),
        headers={"Authorization": f"Bearer {issued.secret}"},
        timeout=30,
    )


def renderings(value: str) -> list[bytes]:
    raw = value.encode()
    return [raw, base64.b64encode(raw), raw.hex().encode(), base64.urlsafe_b64encode(raw)]


async def test_a_secret_is_released_only_to_its_grantee_and_never_stored_in_clear(
    api: Api, pool: asyncpg.Pool
) -> None:
    first, second = (f"sk-{random_secrets.token_urlsafe(32)}" for _ in range(2))
    async with (
        await api.as_("ui-factory", "write") as owner,
        await service(api, "llm-router") as router,
        await service(api, "agent-runner") as stranger,
    ):
        created = await owner.post("/secrets", json={"name": "openai-prod", "value": first})
        assert created.status_code == 201, created.text
        grant = {"principal": "llm-router", "purpose": "provider:openai"}
        assert (await owner.post("/secrets/openai-prod/grants", json=grant)).status_code == 200
        resolve = {"purpose": "provider:openai"}
        released = await router.post("/secrets/openai-prod/resolve", json=resolve)
        assert released.status_code == 200, released.text
        assert (released.json()["value"], released.json()["version"]) == (first, 1)
        assert released.headers["cache-control"] == "no-store"
        # Anyone else, or the grantee for another purpose, or the owner itself: refused.
        other = await stranger.post("/secrets/openai-prod/resolve", json=resolve)
        wrong = await router.post("/secrets/openai-prod/resolve", json={"purpose": "git"})
        not_a_service = await owner.post("/secrets/openai-prod/resolve", json=resolve)
        assert [r.status_code for r in (other, wrong, not_a_service)] == [403, 403, 403]
        # Rotation: the next resolve gets the new value.
        rotated = await owner.post("/secrets/openai-prod/versions", json={"value": second})
        assert rotated.status_code == 201, rotated.text
        again = await router.post("/secrets/openai-prod/resolve", json=resolve)
        assert (again.json()["value"], again.json()["version"]) == (second, 2)
        info = await owner.get("/secrets/openai-prod")
        history = await owner.get("/secrets/openai-prod/releases")
        peeking = await stranger.get("/secrets/openai-prod/releases")
    assert peeking.status_code == 403
    assert [v["version"] for v in info.json()["versions"]] == [1, 2]
    assert [(r["principal"], r["outcome"]) for r in history.json()["items"]] == [
        ("llm-router", "released"),
        ("agent-runner", "denied"),
        ("llm-router", "denied"),
        ("ui-factory", "denied"),
        ("llm-router", "released"),
    ]
    # Neither the log nor any answer but the resolves holds a value, in any rendering.
    stored = b"".join(row["state"] for row in await pool.fetch("SELECT state FROM vibehq_events"))
    keys = b"".join(
        row["wrapped"] for row in await pool.fetch("SELECT wrapped FROM vibehq_secret_keys")
    )
    answers = (created.text + info.text + history.text + rotated.text).encode()
    for value in (first, second):
        for rendering in renderings(value):
            assert rendering not in stored
            assert rendering not in keys
            assert rendering not in answers


async def test_shredding_makes_every_version_unreadable_and_keeps_the_log(
    api: Api, pool: asyncpg.Pool
) -> None:
    async with (
        await api.as_("ui-factory", "write") as owner,
        await service(api, "agent-runner") as runner,
    ):
        await owner.post("/secrets", json={"name": "github-bot", "value": "ghp_" + "x" * 36})
        await owner.post("/secrets/github-bot/versions", json={"value": "ghp_" + "y" * 36})
        grant = {"principal": "agent-runner", "purpose": "git"}
        await owner.post("/secrets/github-bot/grants", json=grant)
        events_before = await pool.fetchval("SELECT count(*) FROM vibehq_events")
        mistyped = await owner.post("/secrets/github-bot/shred", json={"confirm": "github"})
        shredded = await owner.post("/secrets/github-bot/shred", json={"confirm": "github-bot"})
        gone = await runner.post("/secrets/github-bot/resolve", json={"purpose": "git"})
    assert (mistyped.status_code, mistyped.json()["field"]) == (422, "confirm")
    assert shredded.status_code == 200, shredded.text
    assert shredded.json()["shredded"] is True
    assert gone.status_code == 403  # shredded: nothing to release
    assert "shredded" in gone.json()["detail"]
    secret_id = secret_stream_id("github-bot")
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM vibehq_secret_keys WHERE secret_id = $1", secret_id
        )
        == 0
    )
    # The log keeps every event (the sealed versions included), plus the shredding.
    assert await pool.fetchval("SELECT count(*) FROM vibehq_events") >= events_before + 1


async def test_a_sealed_value_opens_only_where_it_was_sealed(pool: asyncpg.Pool) -> None:
    vault = PostgresVault(pool, LocalKeyRing({1: bytes(range(32))}))
    a, b = secret_stream_id(f"a-{uuid4().hex}"), secret_stream_id(f"b-{uuid4().hex}")
    sealed = await vault.seal(a, 1, "a", b"value-of-a")
    assert await vault.open(a, 1, "a", sealed) == b"value-of-a"
    for secret_id, version, name in ((b, 1, "a"), (a, 2, "a"), (a, 1, "b")):
        with pytest.raises(InvalidTag):  # another secret, version or name: it fails
            await vault.open(secret_id, version, name, sealed)
    tampered = SealedValue(
        key_id=sealed.key_id,
        ciphertext=bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:],
        nonce=sealed.nonce,
    )
    with pytest.raises(InvalidTag):
        await vault.open(a, 1, "a", tampered)
    # A rotated ring still opens what older master keys wrapped.
    rotated = PostgresVault(pool, LocalKeyRing({1: bytes(range(32)), 2: bytes(32)}))
    assert await rotated.open(a, 1, "a", sealed) == b"value-of-a"


async def test_a_value_printed_in_a_terminal_reaches_no_viewer(api: Api) -> None:
    value = f"sk-{random_secrets.token_urlsafe(30)}"
    session = f"agent-{uuid4().hex[:8]}"
    async with (
        await api.as_("ui-factory", "write") as owner,
        await api.as_("agent-runner", "write") as runner,
    ):
        created = await owner.post("/secrets", json={"name": "canary-key", "value": value})
        assert created.status_code == 201, created.text
        encoded = base64.b64encode(value.encode()).decode()
        chunks = [
            f"$ echo $OPENAI_API_KEY\r\n{value[:9]}",  # the value split across chunks
            f"{value[9:]}\r\n$ echo -n $OPENAI_API_KEY | base64\r\n{encoded}\r\n",
            "$ ",
        ]
        for seq, data in enumerate(chunks, start=1):
            written = await runner.post(
                f"/terminal/{session}/output", json={"seq": seq, "data": data}
            )
            assert written.status_code == 202, written.text
        viewer = await api.token("pair-programmer", "read")
        async with connect(f"{api.ws_base}/ws/terminal/{session}?token={viewer}") as socket:
            frames = [json.loads(await asyncio.wait_for(socket.recv(), 10)) for _ in chunks]
    shown = "".join(frame["data"] for frame in frames)
    assert shown.count("[REDACTED:canary-key]") == 2
    assert "$ echo -n $OPENAI_API_KEY | base64" in shown
    for rendering in renderings(value):
        assert rendering.decode() not in shown
    # And a log line of this process that quotes it is masked before it is written.
    record = logging.LogRecord(
        "vibehq.test", logging.WARNING, __file__, 1, "got %s", (value,), None
    )
    assert RedactSecrets().filter(record)
    assert record.getMessage() == "got [REDACTED:canary-key]"


async def test_a_patch_that_would_write_a_held_secret_into_a_file_is_refused(
    api: Api, pool: asyncpg.Pool
) -> None:
    value = f"xoxb-{random_secrets.token_urlsafe(30)}"
    async with await api.as_("agent-runner", "write") as agent:
        await agent.post("/secrets", json={"name": "slack-bot", "value": value})
        ws = (await agent.post("/workspaces", json={"name": "leaky"})).json()["id"]
        before = await pool.fetchval(
            "SELECT count(*) FROM vibehq_events WHERE originator_id = $1", UUID(ws)
        )
        attempts = [
            {"op": "write_file", "path": "README.md", "content": "hello\n"},
            {"op": "write_file", "path": ".env", "content": f"SLACK_TOKEN={value}\n"},
        ]
        refused = await agent.post(
            f"/workspaces/{ws}/patches",
            json={"base_version": 1, "task_id": "T", "operations": attempts},
        )
        encoded = base64.b64encode(f"token: {value}".encode()).decode()
        hidden = await agent.post(
            f"/workspaces/{ws}/patches",
            json={
                "base_version": 1,
                "task_id": "T",
                "operations": [
                    {"op": "create_file", "path": "k", "content": encoded, "encoding": "base64"}
                ],
            },
        )
        after = await pool.fetchval(
            "SELECT count(*) FROM vibehq_events WHERE originator_id = $1", UUID(ws)
        )
        alerts = await pool.fetchval(
            "SELECT count(*) FROM vibehq_events WHERE event_type = 'OpsEvent.Reported' "
            "AND actor = 'agent-runner'"
        )
    assert (refused.status_code, refused.json()["field"]) == (422, "operations[1]")
    assert "secret 'slack-bot'" in refused.json()["detail"]
    assert value not in refused.text
    assert hidden.status_code == 422  # base64 in a file: still its value
    assert after == before  # nothing was written, nor recorded as a rejection
    assert alerts == 2  # each attempt is on record for the operators


async def test_an_env_profile_starts_a_session_only_with_every_required_secret(
    api: Api, pool: asyncpg.Pool
) -> None:
    openai = f"sk-{random_secrets.token_urlsafe(30)}"
    github = f"ghp_{random_secrets.token_urlsafe(30)}"
    async with (
        await api.as_("ui-factory", "write") as owner,
        await service(api, "agent-runner") as runner,
    ):
        await owner.post("/secrets", json={"name": "openai-key", "value": openai})
        await owner.post("/secrets", json={"name": "github-token", "value": github})
        profile = {
            "variables": {
                "OPENAI_API_KEY": {"secret": "openai-key"},
                "GITHUB_TOKEN": {"secret": "github-token"},
                "NPM_TOKEN": {"secret": "npm-token", "required": False},
            }
        }
        defined = await owner.put("/env-profiles/cli-agent", json=profile)
        assert defined.status_code == 200, defined.text
        # Only one of the two required secrets is granted at first (the one a
        # variable-by-variable start would release before meeting the other).
        grant = {"principal": "agent-runner", "purpose": "env:GITHUB_TOKEN"}
        await owner.post("/secrets/github-token/grants", json=grant)
        releases_before = await pool.fetchval(
            "SELECT count(*) FROM vibehq_events WHERE event_type = 'Secret.Released'"
        )
        refused = await runner.post("/env-profiles/cli-agent/resolve")
        released_meanwhile = await pool.fetchval(
            "SELECT count(*) FROM vibehq_events WHERE event_type = 'Secret.Released'"
        )
        grant = {"principal": "agent-runner", "purpose": "env:OPENAI_API_KEY"}
        await owner.post("/secrets/openai-key/grants", json=grant)
        started = await runner.post("/env-profiles/cli-agent/resolve")
        shown = await owner.get("/env-profiles/cli-agent")
    assert refused.status_code == 403
    assert (
        "OPENAI_API_KEY: secret 'openai-key': agent-runner has no grant" in refused.json()["detail"]
    )
    assert openai not in refused.text
    assert github not in refused.text
    assert released_meanwhile == releases_before  # a refused start releases nothing
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["env"] == {"GITHUB_TOKEN": github, "OPENAI_API_KEY": openai}
    assert body["skipped"] == {"NPM_TOKEN": "secret 'npm-token': no secret named 'npm-token'"}
    assert started.headers["cache-control"] == "no-store"
    assert openai not in shown.text
    assert github not in shown.text


async def test_each_owner_lists_its_secrets_and_an_admin_lists_all(api: Api) -> None:
    value = lambda: f"sk-{random_secrets.token_urlsafe(24)}"  # noqa: E731
    async with (
        await api.as_("ui-factory", "write") as owner,
        await api.as_("data-factory", "write") as other,
        await api.as_("root", "admin") as admin,
    ):
        for name in ("list-b", "list-a", "list-c"):
            assert (await owner.post("/secrets", json={"name": name, "value": value()})).is_success
        await owner.post("/secrets/list-a/versions", json={"value": value()})
        grant = {"principal": "llm-router", "purpose": "provider:openai"}
        await owner.post("/secrets/list-a/grants", json=grant)
        await owner.post("/secrets/list-c/shred", json={"confirm": "list-c"})
        last = await other.post("/secrets", json={"name": "list-z", "value": value()})
        position = last.json()["position"]
        first = await fresh(owner, "/secrets", position, limit=2)
        rest = await fresh(owner, "/secrets", position, limit=2, cursor=first["next_cursor"])
        everyone = await fresh(admin, "/secrets", position)
        bad = await owner.get("/secrets", params={"cursor": "nonsense"})
    assert [s["name"] for s in first["items"]] == ["list-a", "list-b"]
    assert [s["name"] for s in rest["items"]] == ["list-c"]
    assert rest["next_cursor"] is None
    listed_a = first["items"][0]
    assert (listed_a["versions"], listed_a["grants"], listed_a["shredded"]) == (2, 1, False)
    assert rest["items"][0]["shredded"] is True
    assert "value" not in json.dumps(first)
    names = [s["name"] for s in everyone["items"]]
    assert {"list-a", "list-b", "list-c", "list-z"} <= set(names)
    assert names == sorted(names)
    assert (bad.status_code, bad.json()["field"]) == (422, "cursor")


async def test_a_lease_is_one_event_for_many_uses_and_ends_with_the_grant(api: Api) -> None:
    value = f"sk-{random_secrets.token_urlsafe(30)}"
    purpose = "provider:openai"
    async with await api.as_("ui-factory", "write") as owner:
        await owner.post("/secrets", json={"name": "router-key", "value": value})
        grant = {"principal": "llm-router", "purpose": purpose}
        assert (await owner.post("/secrets/router-key/grants", json=grant)).is_success
        async with await service(api, "llm-router") as router:
            asked = {"purpose": purpose, "ttl_seconds": 60}
            answer = await router.post("/secrets/router-key/lease", json=asked)
            too_long = await router.post(
                "/secrets/router-key/lease", json={"purpose": purpose, "ttl_seconds": 7200}
            )
        # The router in this process: many uses, one lease.
        leases = api.services.leases
        as_router = CommandContext(actor="llm-router", correlation_id=uuid4())
        used = {await leases.value("router-key", purpose, as_router) for _ in range(200)}
        assert used == {value}
        assert len(leases) == 1
        revoked = await owner.delete("/secrets/router-key/grants/llm-router")
        assert revoked.is_success, revoked.text
        async with asyncio.timeout(5):  # the revocation's event, over NATS, drops it
            while len(leases):  # noqa: ASYNC110 - polls state another task changes
                await asyncio.sleep(0.02)
        with pytest.raises(ReleaseRefused):
            await leases.value("router-key", purpose, as_router)
        history = (await owner.get("/secrets/router-key/releases")).json()["items"]
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    leased = answer.json()
    assert leased["value"] == value
    until = datetime.fromisoformat(leased["expires_at"])
    assert 55 < (until - datetime.now(UTC)).total_seconds() <= 60
    assert (too_long.status_code, too_long.json()["field"]) == (422, "ttl_seconds")
    assert [item["outcome"] for item in history] == ["leased", "leased", "denied"]
    assert datetime.fromisoformat(history[0]["until"]) == until
