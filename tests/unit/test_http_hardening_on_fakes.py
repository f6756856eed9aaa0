"""Hostile and careless input to the HTTP app on fakes: every answer names what is
wrong, and nothing is recorded that should not be (issue: hardening)."""

from __future__ import annotations

import json

import pytest

from interfaces.http.auth import TokenCache
from tests.unit.test_http_on_fakes import Harness, _workspace

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/workspaces/{ws}/patches?after_version=9223372036854775808", "after_version"),
        ("/workspaces/{ws}/events?after_version=99999999999999999999", "after_version"),
        ("/workspaces/{ws}?at=%C2%B2", "at"),
        ("/workspaces/{ws}/files?at=%E2%91%A0", "at"),
        ("/ops/overview?after_position=9223372036854775808", "after_position"),
        ("/delivery-reports?after_position=99999999999999999999", "after_position"),
    ],
)
async def test_numbers_we_cannot_store_are_422_naming_the_field(path: str, field: str) -> None:
    async with Harness().client() as client:
        ws = await _workspace(client)
        answer = await client.get(path.format(ws=ws))
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == field


async def test_json_nested_too_deep_is_422_not_a_server_error() -> None:
    async with Harness().client() as client:
        for nested, field in [
            ('{"name": "x", "files": ' + "[" * 990 + "]" * 990 + "}", "files[0]"),
            (
                '{"source": "s", "kind": "k", "severity": "info", "attributes": {"a": '
                + '{"b": ' * 5000
                + "1"
                + "}" * 5001,
                "attributes[...]",
            ),
        ]:
            answer = await client.post(
                "/workspaces" if "files" in nested else "/ops/events",
                content=nested,
                headers={"content-type": "application/json"},
            )
            assert (answer.status_code, answer.json()["field"]) == (422, field)


async def test_free_text_is_bounded_and_named_when_too_long() -> None:
    async with Harness().client() as client:
        ws = await _workspace(client)
        patch = {
            "base_version": 1,
            "task_id": "T-1",
            "message": "m" * 20_001,
            "operations": [{"op": "write_file", "path": "b.py", "content": "b\n"}],
        }
        answer = await client.post(f"/workspaces/{ws}/patches", json=patch)
        assert (answer.status_code, answer.json()["field"]) == (422, "message")
        event = {"source": "svc", "kind": "k", "severity": "info", "attributes": {"a": "x" * 2001}}
        answer = await client.post("/ops/events", json=event)
        assert answer.status_code == 422
        assert answer.json()["field"].startswith("attributes")


async def test_an_event_over_the_size_limit_is_refused_and_nothing_is_recorded() -> None:
    """500 checks of 4,000 characters each pass every field's bound, but the event
    they make (2 MB) would not fit a NATS message: refused before anything is written."""
    harness = Harness(max_event_bytes=256 * 1024)
    async with harness.client() as client:
        ws = await _workspace(client)
        head = len(harness.store.log)
        checks = [
            {"name": f"check-{n}", "status": "passed", "summary": "s" * 4000} for n in range(500)
        ]
        answer = await client.post("/tasks/T-9/checks", json={"checks": checks})
        assert answer.status_code == 422, answer.text
        assert answer.json()["reason"] == "event_too_large"
        assert "VIBEHQ_MAX_EVENT_BYTES" in answer.json()["detail"]
        assert len(harness.store.log) == head
        few = await client.post("/tasks/T-9/checks", json={"checks": checks[:20]})
        assert few.status_code == 201, few.text
        assert ws


async def test_bodies_must_be_json_of_the_declared_types_exactly() -> None:
    harness = Harness()
    async with harness.client() as client:
        ws = await _workspace(client)
        head = len(harness.store.log)
        patch = {
            "base_version": "1",
            "task_id": "T-1",
            "operations": [{"op": "write_file", "path": "b.py", "content": "b\n"}],
        }
        loose = await client.post(f"/workspaces/{ws}/patches", json=patch)
        assert (loose.status_code, loose.json()["field"]) == (422, "base_version")
        as_text = await client.post(
            f"/workspaces/{ws}/patches",
            content=json.dumps({**patch, "base_version": 1}),
            headers={"content-type": "text/plain"},
        )
        assert (as_text.status_code, as_text.json()["field"]) == (415, "Content-Type")
        assert as_text.headers["content-type"] == "application/problem+json"
        assert len(harness.store.log) == head  # nothing was recorded
        wrong_method = await client.put(f"/workspaces/{ws}/patches", json=patch)
        assert wrong_method.status_code == 405
        assert set(wrong_method.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


async def test_a_factory_cannot_record_facts_in_another_factorys_name() -> None:
    """Every recorded fact is the token's actor's: a body naming another is refused
    (403 naming the field), nothing is recorded for it, and the attempt is."""
    harness = Harness()
    async with harness.client(actor="factory-b") as client:
        ws = await _workspace(client)
        head = len(harness.store.log)
        patch = {
            "base_version": 1,
            "task_id": "T-1",
            "author": "factory-a",
            "operations": [{"op": "write_file", "path": "b.py", "content": "b\n"}],
        }
        forged = await client.post(f"/workspaces/{ws}/patches", json=patch)
        assert (forged.status_code, forged.json()["field"]) == (403, "author")
        assert "acts as 'factory-b'" in forged.json()["detail"]
        checks = {"checks": [{"name": "tests", "status": "failed"}], "factory": "factory-a"}
        forged_checks = await client.post("/tasks/T-1/checks", json=checks)
        assert (forged_checks.status_code, forged_checks.json()["field"]) == (403, "factory")
        delivery = {"summary": "done", "workspace_id": ws, "final_version": 1}
        forged_delivery = await client.post(
            "/tasks/T-1/deliver", json={**delivery, "factory": "factory-a"}
        )
        assert forged_delivery.status_code == 403
        # What was recorded instead: one warning per attempt, in the attempter's name.
        recorded = harness.store.log[head:]
        assert [(e.event_type, e.actor) for e in recorded] == [
            ("OpsEvent.Reported", "factory-b")
        ] * 3
        # Naming yourself is fine.
        own = await client.post(f"/workspaces/{ws}/patches", json={**patch, "author": "factory-b"})
        assert own.status_code == 201, own.text
        assert own.json()["author"] == "factory-b"


async def test_an_address_that_keeps_failing_authentication_is_slowed_down() -> None:
    harness = Harness()
    async with harness.client() as client:
        ws = await _workspace(client)
        good = dict(client.headers)
        client.headers["Authorization"] = "Bearer vhq_guess"
        answers = [(await client.get(f"/workspaces/{ws}")).status_code for _ in range(25)]
        assert answers[:20] == [401] * 20
        assert set(answers[20:]) == {429}
        limited = await client.get(f"/workspaces/{ws}")
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["content-type"] == "application/problem+json"
        # The limit is the address's: even a good token waits, and public routes do not.
        client.headers.update(good)
        assert (await client.get(f"/workspaces/{ws}")).status_code == 429
        assert (await client.get("/health")).status_code == 200


async def test_an_unknown_token_is_remembered_as_unknown_without_a_second_lookup() -> None:
    looked_up: list[str] = []

    class Tokens:
        async def authenticate(self, secret: str) -> None:
            looked_up.append(secret)

    cache = TokenCache()
    for _ in range(3):
        assert await cache.principal("vhq_guess", Tokens()) is None  # type: ignore[arg-type]
    assert looked_up == ["vhq_guess"]
