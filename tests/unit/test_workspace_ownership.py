"""A workspace is its creator's: others need a grant, admins may do anything, and every
refusal is 403 and recorded (HTTP app on fakes)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from domain.errors import Refused
from domain.workspace import Workspace
from tests.unit.test_http_on_fakes import Harness, _workspace

pytestmark = pytest.mark.timeout(30)


def _patch(base: int, path: str = "b.py") -> dict[str, Any]:
    op = {"op": "write_file", "path": path, "content": "b\n"}
    return {"base_version": base, "task_id": "T-1", "operations": [op]}


async def _listed(client: AsyncTestClient[Any]) -> set[str]:
    return {w["id"] for w in (await client.get("/workspaces")).json()["items"]}


async def test_another_factory_needs_a_grant_to_see_or_change_a_workspace() -> None:
    harness = Harness()
    async with (
        harness.client("factory-a") as owner,
        harness.client("factory-b") as other,
        harness.client("operator", scope="admin") as admin,
    ):
        ws = await _workspace(owner)
        head = len(harness.store.log)
        # Without a grant: nothing to see, nothing to change, not even listed.
        for answer in (
            await other.get(f"/workspaces/{ws}"),
            await other.get(f"/workspaces/{ws}/files"),
            await other.get(f"/workspaces/{ws}/patches"),
            await other.post(f"/workspaces/{ws}/patches", json=_patch(2)),
            await other.post(f"/workspaces/{ws}/patches?dry_run=true", json=_patch(2)),
            await other.post(f"/workspaces/{ws}/archive"),
        ):
            assert answer.status_code == 403, answer.text
            assert answer.headers["content-type"] == "application/problem+json"
        assert ws not in await _listed(other)
        # Each refusal is on record, in the refused actor's name; nothing else was recorded.
        refusals = harness.store.log[head:]
        assert {(e.event_type, e.actor) for e in refusals} == {("OpsEvent.Reported", "factory-b")}
        assert len(refusals) == 6

        read = await owner.post(
            f"/workspaces/{ws}/grants", json={"actor": "factory-b", "access": "read"}
        )
        assert read.status_code == 200, read.text
        assert read.json()["grants"] == {"factory-b": "read"}
        assert (await other.get(f"/workspaces/{ws}")).status_code == 200
        assert ws in await _listed(other)
        assert (await other.post(f"/workspaces/{ws}/patches", json=_patch(3))).status_code == 403
        # Only the owner grants.
        self_grant = {"actor": "factory-b", "access": "write"}
        assert (await other.post(f"/workspaces/{ws}/grants", json=self_grant)).status_code == 403

        write = {"actor": "factory-b", "access": "write"}
        assert (await owner.post(f"/workspaces/{ws}/grants", json=write)).status_code == 200
        patched = await other.post(f"/workspaces/{ws}/patches", json=_patch(4))
        assert patched.status_code == 201, patched.text
        assert (await other.post(f"/workspaces/{ws}/archive")).status_code == 403  # owner's

        revoked = await owner.delete(f"/workspaces/{ws}/grants/factory-b")
        assert (revoked.status_code, revoked.json()["grants"]) == (200, {})
        assert (await other.get(f"/workspaces/{ws}")).status_code == 403
        # An admin token may do anything.
        assert ws in await _listed(admin)
        assert (
            await admin.post(f"/workspaces/{ws}/patches", json=_patch(6, "c.py"))
        ).status_code == 201


def test_grants_are_events_of_the_workspace() -> None:
    workspace = Workspace(name="w", created_by="factory-a")
    assert workspace.access_of("factory-a") == "owner"
    assert workspace.access_of("factory-b") is None
    assert workspace.grant("factory-b", "read", by="factory-a")
    assert not workspace.grant("factory-b", "read", by="factory-a")  # already so: no event
    assert workspace.access_of("factory-b") == "read"
    with pytest.raises(Refused, match="owns"):
        workspace.grant("factory-a", "read", by="factory-a")
    assert workspace.revoke("factory-b", by="factory-a")
    assert not workspace.revoke("factory-b", by="factory-a")
    names = [type(e).__name__ for e in workspace.collect_events()]
    assert names == ["Created", "AccessGranted", "AccessRevoked"]
