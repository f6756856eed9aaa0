"""Leases: one recorded release for many uses, never used past its end or its grant."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from application.aggregates import AggregateRepository, CommandContext
from application.secret_leases import SecretLeases
from application.secrets import ReleaseRefused, SecretService
from domain.contracts import NewSecret, SecretGrantRequest, SecretValueRequest
from domain.secrets import secret_stream_id
from tests.unit.fakes import InMemoryEventStore, InMemoryVault

START = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
PURPOSE = "provider:openai"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def ctx(actor: str) -> CommandContext:
    return CommandContext(actor=actor, correlation_id=uuid.uuid4())


async def _setup(
    grant_until: datetime | None = None,
) -> tuple[InMemoryEventStore, SecretService, SecretLeases, Clock]:
    store, clock = InMemoryEventStore(), Clock()
    secrets = SecretService(store, AggregateRepository(store), InMemoryVault(), now=clock)
    await secrets.create(NewSecret(name="openai", value="sk-" + "a" * 40), ctx("owner"))
    grant = SecretGrantRequest(principal="llm-router", purpose=PURPOSE, expires_at=grant_until)
    await secrets.grant("openai", grant, ctx("owner"))
    return store, secrets, SecretLeases(secrets, ttl_seconds=60, now=clock), clock


def _leased(store: InMemoryEventStore) -> int:
    return sum(1 for e in store.log if e.event_type == "Secret.Leased")


async def test_many_uses_one_lease_until_shortly_before_it_ends() -> None:
    store, _, leases, clock = await _setup()
    router = ctx("llm-router")
    for _ in range(1000):
        assert await leases.value("openai", PURPOSE, router) == "sk-" + "a" * 40
    assert _leased(store) == 1
    clock.now = START + timedelta(seconds=54)  # inside the 5 s margin: still the same
    await leases.value("openai", PURPOSE, router)
    assert _leased(store) == 1
    clock.now = START + timedelta(seconds=56)  # within 5 s of the end: lease again
    await leases.value("openai", PURPOSE, router)
    assert _leased(store) == 2


async def test_a_lease_never_outlives_its_grant() -> None:
    store, _, leases, clock = await _setup(grant_until=START + timedelta(seconds=20))
    await leases.value("openai", PURPOSE, ctx("llm-router"))
    clock.now = START + timedelta(seconds=16)
    await leases.value("openai", PURPOSE, ctx("llm-router"))  # leased again (grant's end)
    assert _leased(store) == 2
    clock.now = START + timedelta(seconds=21)
    with pytest.raises(ReleaseRefused, match="expired"):
        await leases.value("openai", PURPOSE, ctx("llm-router"))


async def test_only_an_older_version_or_a_revocation_drops_a_kept_value() -> None:
    _, secrets, leases, _ = await _setup()
    router = ctx("llm-router")
    await leases.value("openai", PURPOSE, router)
    secret_id = secret_stream_id("openai")
    assert leases.drop(secret_id, before=1) == 0  # the version it holds: a late event
    await secrets.add_version("openai", SecretValueRequest(value="sk-" + "b" * 40), ctx("owner"))
    assert leases.drop(secret_id, before=2) == 1
    assert await leases.value("openai", PURPOSE, router) == "sk-" + "b" * 40
    assert leases.drop(secret_id) == 1  # a revocation: every version
    assert len(leases) == 0
