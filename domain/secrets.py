"""Secrets: values the factories, the router and agent sessions need, kept sealed.

The aggregate never sees a value. The application seals it (envelope encryption:
a fresh data key per version, the data key wrapped by a master key and kept outside
the log) and hands the aggregate ciphertext and a keyed fingerprint. What the log
holds about a secret is who made it, its sealed versions, who may use it for what,
every release of its value and every refusal, and, once shredded, that its keys are
gone: the ciphertext stays in the log, unreadable forever.

Its creator owns it: only the owner (or an admin) adds versions, grants and
shreds. A principal may have the value released for a purpose it was granted, until
the grant expires or is revoked.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from msgspec import Struct

from domain.errors import Refused

SECRET_NAMESPACE: Final = UUID("0b6c1f5e-2f63-4d8a-9a57-5d0f6b8e4c21")


def secret_stream_id(name: str) -> UUID:
    return uuid5(SECRET_NAMESPACE, name)


class SecretShredded(Refused):
    def __init__(self, name: str) -> None:
        super().__init__(f"secret {name!r} was shredded: its keys are gone for good")


class Grant(Struct, frozen=True):
    purpose: str
    expires_at: datetime | None
    granted_by: str


class SealedVersion(Struct, frozen=True):
    version: int
    key_id: UUID
    ciphertext: str
    nonce: str
    fingerprint: str
    added_by: str
    added_at: datetime


class Secret(Aggregate):
    """A named secret and its sealed versions."""

    @staticmethod
    def create_id(name: str) -> UUID:
        return secret_stream_id(name)

    class Created(Aggregate.Created):
        name: str
        kind: str
        owner: str

    class VersionAdded(Aggregate.Event):
        version: int
        #: The wrapped data key's id (the key itself is outside the log, shreddable).
        key_id: UUID
        ciphertext: str
        nonce: str
        fingerprint: str
        added_by: str

    class GrantAdded(Aggregate.Event):
        principal: str
        purpose: str
        expires_at: datetime | None
        by: str

    class GrantRevoked(Aggregate.Event):
        principal: str
        by: str

    class Released(Aggregate.Event):
        """The value was about to leave, to `principal` for `purpose`: recorded first."""

        principal: str
        purpose: str
        version: int

    class Leased(Aggregate.Event):
        """The value was about to leave, to `principal` for `purpose`, to be kept and
        used until `expires_at` without asking again: recorded first."""

        principal: str
        purpose: str
        version: int
        expires_at: datetime

    class Denied(Aggregate.Event):
        principal: str
        purpose: str
        reason: str

    class Shredded(Aggregate.Event):
        by: str

    @event(Created)
    def __init__(self, name: str, kind: str, owner: str) -> None:
        self.name = name
        self.kind = kind
        self.owner = owner
        self.versions: list[SealedVersion] = []
        self.grants: dict[str, Grant] = {}
        self.shredded = False

    @property
    def latest(self) -> SealedVersion | None:
        return self.versions[-1] if self.versions else None

    @property
    def next_version(self) -> int:
        return len(self.versions) + 1

    def add_version(
        self, *, key_id: UUID, ciphertext: str, nonce: str, fingerprint: str, by: str
    ) -> None:
        if self.shredded:
            raise SecretShredded(self.name)
        self._version_added(
            version=self.next_version,
            key_id=key_id,
            ciphertext=ciphertext,
            nonce=nonce,
            fingerprint=fingerprint,
            added_by=by,
        )

    def grant(self, principal: str, purpose: str, expires_at: datetime | None, by: str) -> None:
        if self.shredded:
            raise SecretShredded(self.name)
        self._grant_added(principal=principal, purpose=purpose, expires_at=expires_at, by=by)

    def revoke(self, principal: str, by: str) -> bool:
        if principal not in self.grants:
            return False
        self._grant_revoked(principal=principal, by=by)
        return True

    def refusal(self, principal: str, purpose: str, now: datetime) -> str | None:
        """Why `principal` may not have the value for `purpose` now (None: it may)."""
        if self.shredded:
            return "the secret was shredded"
        if self.latest is None:
            return "the secret has no value"
        grant = self.grants.get(principal)
        if grant is None:
            return f"{principal} has no grant"
        if grant.purpose != purpose:
            return f"{principal} is granted it for {grant.purpose}, not {purpose}"
        if grant.expires_at is not None and grant.expires_at <= now:
            return f"{principal}'s grant expired at {grant.expires_at.isoformat()}"
        return None

    def release(self, principal: str, purpose: str) -> SealedVersion:
        """Record that the latest value is released (before it is); returns it sealed."""
        latest = self.latest
        assert latest is not None
        assert not self.shredded
        self._released(principal=principal, purpose=purpose, version=latest.version)
        return latest

    def lease(self, principal: str, purpose: str, now: datetime, ttl: timedelta) -> datetime:
        """Record a lease of the latest value (before it leaves) until `now + ttl`, or
        the grant's expiry if sooner; returns when the lease ends."""
        latest = self.latest
        assert latest is not None
        assert not self.shredded
        grant = self.grants[principal]
        ends = now + ttl
        if grant.expires_at is not None:
            ends = min(ends, grant.expires_at)
        self._leased(principal=principal, purpose=purpose, version=latest.version, expires_at=ends)
        return ends

    def deny(self, principal: str, purpose: str, reason: str) -> None:
        self._denied(principal=principal, purpose=purpose, reason=reason)

    def shred(self, by: str) -> None:
        if self.shredded:
            raise SecretShredded(self.name)
        self._shredded(by=by)

    # -- events: these bodies also run on replay, so they only assign ------------------

    @event(VersionAdded)
    def _version_added(
        self,
        version: int,
        key_id: UUID,
        ciphertext: str,
        nonce: str,
        fingerprint: str,
        added_by: str,
    ) -> None:
        self.versions.append(
            SealedVersion(
                version, key_id, ciphertext, nonce, fingerprint, added_by, self.modified_on
            )
        )

    @event(GrantAdded)
    def _grant_added(
        self, principal: str, purpose: str, expires_at: datetime | None, by: str
    ) -> None:
        self.grants[principal] = Grant(purpose, expires_at, by)

    @event(GrantRevoked)
    def _grant_revoked(self, principal: str, by: str) -> None:
        self.grants.pop(principal, None)

    @event(Released)
    def _released(self, principal: str, purpose: str, version: int) -> None:
        pass  # a record for the audit; the state does not change

    @event(Leased)
    def _leased(self, principal: str, purpose: str, version: int, expires_at: datetime) -> None:
        pass  # a record for the audit; the state does not change

    @event(Denied)
    def _denied(self, principal: str, purpose: str, reason: str) -> None:
        pass

    @event(Shredded)
    def _shredded(self, by: str) -> None:
        self.shredded = True
        self.grants = {}


#: Every event a secret records.
SECRET_EVENTS: Final = (
    Secret.Created,
    Secret.VersionAdded,
    Secret.GrantAdded,
    Secret.GrantRevoked,
    Secret.Released,
    Secret.Leased,
    Secret.Denied,
    Secret.Shredded,
)
