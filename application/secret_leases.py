"""Leases for high-rate readers: the model router asks for a provider key once per
lease, not once per call, and the log gets one `Secret.Leased` event per lease.

`SecretLeases.value` hands out a value leased earlier until shortly before its lease
ends, then leases again (recorded first, as every release). What makes a kept value
wrong drops it at once: the secret's grant revoked, a new version, a shredding, each
seen as its event goes past on NATS (infrastructure/secrets/watch.py calls `drop`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

from application.aggregates import CommandContext
from application.secrets import SecretService
from domain.contracts import LeasedSecret, LeaseRequest
from domain.secrets import secret_stream_id

#: Lease again this long before a lease ends, so a value is never used past it.
MARGIN = timedelta(seconds=5)


class SecretLeases:
    def __init__(
        self,
        secrets: SecretService,
        *,
        ttl_seconds: int = 300,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._secrets = secrets
        self._ttl = ttl_seconds
        self._now = now
        self._held: dict[tuple[UUID, str, str], LeasedSecret] = {}
        #: Drops per secret: a lease granted while one happened is used once, not kept.
        self._drops: dict[UUID, int] = {}

    def __len__(self) -> int:
        return len(self._held)

    async def value(self, name: str, purpose: str, context: CommandContext) -> str:
        """The value for `context.actor` (a service) to use for `purpose` right now."""
        key = (secret_stream_id(name), context.actor, purpose)
        held = self._held.get(key)
        if held is not None and held.expires_at - MARGIN > self._now():
            return held.value
        self._held.pop(key, None)
        drops = self._drops.get(key[0], 0)
        request = LeaseRequest(purpose=purpose, ttl_seconds=self._ttl)
        leased = await self._secrets.lease(name, request, context, service=True)
        if self._drops.get(key[0], 0) == drops:
            self._held[key] = leased
        return leased.value

    def drop(self, secret_id: UUID, before: int | None = None) -> int:
        """Forget the values of this secret older than version `before` (a new version
        was added), or all of them (None: a grant was revoked, or it was shredded);
        how many were held."""
        self._drops[secret_id] = self._drops.get(secret_id, 0) + 1
        gone = [
            key
            for key, leased in self._held.items()
            if key[0] == secret_id and (before is None or leased.version < before)
        ]
        for key in gone:
            del self._held[key]
        return len(gone)
