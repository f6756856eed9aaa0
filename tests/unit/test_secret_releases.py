"""Releasing a secret is fail-closed and follows its grant (use cases on fakes)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from application.aggregates import AggregateRepository, CommandContext
from application.ops import OpsService
from application.ports import AppendRequest, AppendResult, SealedValue
from application.secrets import ReleaseRefused, SecretService
from domain.contracts import (
    NewSecret,
    OpsEventRequest,
    SecretGrantRequest,
    SecretValueRequest,
)
from infrastructure.secrets.redaction import Redactor
from tests.unit.fakes import InMemoryEventStore, InMemoryVault

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
VALUE = "sk-" + "q" * 40


def ctx(actor: str) -> CommandContext:
    return CommandContext(actor=actor, correlation_id=uuid.uuid4())


class CountingVault(InMemoryVault):
    def __init__(self) -> None:
        super().__init__()
        self.opened = 0

    async def open(
        self, secret_id: uuid.UUID, version: int, name: str, sealed: SealedValue
    ) -> bytes:
        self.opened += 1
        return await super().open(secret_id, version, name, sealed)


class FailingAppends(InMemoryEventStore):
    """A store that stops taking appends (PostgreSQL went away)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def append(self, request: AppendRequest) -> AppendResult:
        if self.down:
            raise OSError("connection refused")
        return await super().append(request)


async def _service(store: InMemoryEventStore, vault: InMemoryVault) -> SecretService:
    service = SecretService(store, AggregateRepository(store), vault, now=lambda: NOW)
    await service.create(NewSecret(name="openai-prod", value=VALUE), ctx("ui-factory"))
    return service


async def test_no_record_no_value() -> None:
    store, vault = FailingAppends(), CountingVault()
    service = await _service(store, vault)
    grant = SecretGrantRequest(principal="llm-router", purpose="provider:openai")
    await service.grant("openai-prod", grant, ctx("ui-factory"))
    store.down = True
    with pytest.raises(OSError):
        await service.resolve("openai-prod", "provider:openai", ctx("llm-router"), service=True)
    assert vault.opened == 0  # the value was never opened, let alone returned
    store.down = False
    resolved = await service.resolve(
        "openai-prod", "provider:openai", ctx("llm-router"), service=True
    )
    assert (resolved.value, vault.opened) == (VALUE, 1)


async def test_a_grant_holds_for_its_purpose_until_it_expires_or_is_revoked() -> None:
    store, vault = FailingAppends(), CountingVault()
    service = await _service(store, vault)
    soon = SecretGrantRequest(
        principal="llm-router", purpose="provider:openai", expires_at=NOW - timedelta(seconds=1)
    )
    await service.grant("openai-prod", soon, ctx("ui-factory"))
    with pytest.raises(ReleaseRefused, match="expired"):
        await service.resolve("openai-prod", "provider:openai", ctx("llm-router"), service=True)
    later = SecretGrantRequest(
        principal="llm-router", purpose="provider:openai", expires_at=NOW + timedelta(days=1)
    )
    await service.grant("openai-prod", later, ctx("ui-factory"))
    await service.resolve("openai-prod", "provider:openai", ctx("llm-router"), service=True)
    await service.revoke("openai-prod", "llm-router", ctx("ui-factory"))
    with pytest.raises(ReleaseRefused, match="no grant"):
        await service.resolve("openai-prod", "provider:openai", ctx("llm-router"), service=True)
    releases = await service.releases("openai-prod", ctx("ui-factory"))
    assert [r.outcome for r in releases.items] == ["denied", "released", "denied"]
    assert vault.opened == 1


async def test_a_process_masks_values_stored_by_another_but_none_shredded() -> None:
    store, vault = InMemoryEventStore(), CountingVault()
    here = await _service(store, vault)  # stored "openai-prod" here
    rotated = SecretValueRequest(value="sk-" + "r" * 40)
    await here.add_version("openai-prod", rotated, ctx("ui-factory"))
    gone = NewSecret(name="old-key", value="gh-" + "s" * 40)
    await here.create(gone, ctx("ui-factory"))
    await here.shred("old-key", "old-key", ctx("ui-factory"))
    masks = Redactor()
    elsewhere = SecretService(store, AggregateRepository(store), vault, masks=masks)
    text = f"{VALUE} {rotated.value} {gone.value}"
    assert masks.redact(text) == text  # it never saw a value come in
    assert await elsewhere.mask_all() == 2
    assert masks.redact(text) == (f"[REDACTED:openai-prod] [REDACTED:openai-prod] {gone.value}")
    opened = vault.opened
    assert await elsewhere.mask_all() == 0  # nothing new: nothing opened again
    assert vault.opened == opened


async def test_a_value_written_into_any_recorded_field_is_stored_masked() -> None:
    """Whatever field a writer puts a held value in (an alert's message here), the
    stored event has the secret's name instead, and the next read sees that too."""
    store = InMemoryEventStore()
    masks = Redactor()
    masks.add("openai-prod", VALUE)
    repository = AggregateRepository(store, masks=masks)
    ops = OpsService(store, repository)
    alert = OpsEventRequest(
        source="builder", kind="leak", severity="warning", message=f"key={VALUE} rejected"
    )
    await ops.report(alert, ctx("builder"))
    [stored] = [e for e in await store.read_log() if e.event_type.endswith("Reported")]
    assert VALUE not in stored.state.decode()
    assert "key=[REDACTED:openai-prod] rejected" in stored.state.decode()
