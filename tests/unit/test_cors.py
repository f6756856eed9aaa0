"""Pages on other origins may call the API only when VIBEHQ_CORS_ORIGINS lets them."""

from __future__ import annotations

import pytest

from infrastructure.settings import load_settings
from tests.unit.test_http_on_fakes import Harness

pytestmark = pytest.mark.timeout(30)

CONSOLE = "https://console.example.com"
PREFLIGHT = {
    "Origin": CONSOLE,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
}


async def test_no_other_origin_is_let_in_by_default() -> None:
    async with Harness().client() as client:
        answer = await client.get("/workspaces", headers={"Origin": CONSOLE})
        assert answer.status_code == 200
        assert "access-control-allow-origin" not in answer.headers
        preflight = await client.options("/workspaces", headers=PREFLIGHT)
        assert "access-control-allow-origin" not in preflight.headers


async def test_a_listed_origin_may_call_and_read_what_it_needs_and_others_may_not() -> None:
    harness = Harness(cors_origins=f"{CONSOLE},http://localhost:5173")
    async with harness.client() as client:
        preflight = await client.options("/workspaces", headers=PREFLIGHT)
        assert preflight.status_code in (200, 204)
        assert preflight.headers["access-control-allow-origin"] == CONSOLE
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert {"authorization", "content-type", "idempotency-key"} <= {
            h.strip() for h in allowed.split(",")
        }
        created = await client.post(
            "/workspaces", json={"name": "shop"}, headers={"Origin": CONSOLE}
        )
        assert created.status_code == 201
        assert created.headers["access-control-allow-origin"] == CONSOLE
        assert "location" in created.headers["access-control-expose-headers"].lower()
        # Tokens still decide: a page without one gets 401, readable by the page.
        del client.headers["Authorization"]
        refused = await client.get("/workspaces", headers={"Origin": CONSOLE})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == CONSOLE

        stranger = await client.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in stranger.headers


def test_a_malformed_origin_list_is_one_line_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="VIBEHQ_CORS_ORIGINS"):
        load_settings({"VIBEHQ_CORS_ORIGINS": "https://a.example, https://b.example"})
