"""Secret use cases: values flow in sealed, and out only to a granted service, after
the release is recorded.

- `create`, `add_version` seal the value (application.ports.SecretVault: envelope
  encryption, data keys outside the log) and record only ciphertext and a keyed
  fingerprint. The creator owns the secret; versions, grants and shredding are the
  owner's (or an admin's).
- `resolve` is fail-closed: the `Released` event is appended first and the value is
  opened only once it is stored; if the append fails, nothing is released. A refusal
  is recorded too (`Denied`), in the asker's name. Only service tokens resolve.
- `shred` deletes the data keys, then records `Shredded`: the log and its hash chain
  stay whole, and every version is unreadable for good.
- `mask_all` opens every version that can still be opened and hands it to the masks,
  so that a process masks values it never saw come in (created or rotated by another
  process). Nothing leaves the process, so nothing is recorded as released.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

from application.aggregates import AggregateNotFound, AggregateRepository, CommandContext
from application.commands import execute, recorded, scoped
from application.event_codec import EventCodec, event_types
from application.ports import EventStore, KeyGone, Masks, SealedValue, SecretVault
from domain.contracts import (
    LeasedSecret,
    LeaseRequest,
    NewSecret,
    ResolvedSecret,
    SecretGrantInfo,
    SecretGrantRequest,
    SecretInfo,
    SecretRelease,
    SecretReleases,
    SecretValueRequest,
    SecretVersionInfo,
)
from domain.errors import Forbidden, Invalid, NotFound, Refused
from domain.secrets import SealedVersion, Secret, SecretShredded, secret_stream_id

_RELEASES = event_types(Secret.Released, Secret.Leased, Secret.Denied)


class SecretMissing(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"no secret named {name!r}")


class NotTheOwner(Forbidden):
    def __init__(self, actor: str, name: str, owner: str) -> None:
        super().__init__(f"{actor} may not manage secret {name!r}: it is {owner}'s")


class ReleaseRefused(Forbidden):
    def __init__(self, actor: str, name: str, reason: str) -> None:
        super().__init__(f"secret {name!r} is not released to {actor}: {reason}")


class NotConfirmed(Invalid):
    field = "confirm"

    def __init__(self, name: str) -> None:
        super().__init__(f"confirm must repeat the secret's name, {name!r}")


class SecretExists(Refused):
    def __init__(self, name: str) -> None:
        super().__init__(f"a secret named {name!r} exists; add a version to change its value")


class SecretService:
    def __init__(
        self,
        store: EventStore,
        repository: AggregateRepository,
        vault: SecretVault,
        *,
        codec: EventCodec | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        masks: Masks | None = None,
    ) -> None:
        self._store = store
        self._repository = repository
        self._vault = vault
        self._codec = codec or EventCodec()
        self._now = now
        self._masks = masks
        self._masked: set[UUID] = set()  # key ids of versions the masks hold

    async def create(self, request: NewSecret, context: CommandContext) -> SecretInfo:
        context = scoped(context, f"secret:{request.name}", request)
        secret_id = secret_stream_id(request.name)
        if context.idempotency_key is None and await self._store.stream_version(secret_id):
            raise SecretExists(request.name)
        sealed, fingerprint = await self._seal(secret_id, 1, request.name, request.value)

        def start() -> Secret:
            secret = Secret(name=request.name, kind=request.kind, owner=context.actor)
            _add(secret, sealed, fingerprint, context.actor)
            return secret

        def exists(secret: Secret) -> None:
            raise SecretExists(request.name)

        result = await execute(
            self._store, self._repository, Secret, secret_id,
            start=start, change=exists, context=context,
        )  # fmt: skip
        return await self._info(request.name, recorded(result).position, result.duplicate)

    async def add_version(
        self, name: str, request: SecretValueRequest, context: CommandContext
    ) -> SecretInfo:
        secret = await self._owned(name, context)
        sealed, fingerprint = await self._seal(secret.id, secret.next_version, name, request.value)
        return await self._change(
            name,
            lambda s: _add(s, sealed, fingerprint, context.actor, expected=secret.next_version),
            scoped(context, f"secret-version:{name}", request),
        )

    async def grant(
        self, name: str, request: SecretGrantRequest, context: CommandContext
    ) -> SecretInfo:
        await self._owned(name, context)
        return await self._change(
            name,
            lambda s: s.grant(
                request.principal, request.purpose, request.expires_at, context.actor
            ),
            scoped(context, f"secret-grant:{name}", request),
        )

    async def revoke(self, name: str, principal: str, context: CommandContext) -> SecretInfo:
        secret = await self._owned(name, context)
        if principal not in secret.grants:
            return await self._info(name)

        def revoke(secret: Secret) -> None:
            secret.revoke(principal, context.actor)

        return await self._change(name, revoke, scoped(context, f"secret-revoke:{name}", principal))

    async def info(self, name: str, context: CommandContext) -> SecretInfo:
        await self._owned(name, context)
        return await self._info(name)

    async def releases(self, name: str, context: CommandContext) -> SecretReleases:
        """Who asked for the value, when, for what, and what they got."""
        await self._owned(name, context)
        items: list[SecretRelease] = []
        for record in await self._store.read_stream(secret_stream_id(name)):
            if record.event_type not in _RELEASES:
                continue
            event = self._codec.decode(record)
            common = {
                "at": record.recorded_at,
                "principal": event.principal,  # type: ignore[attr-defined]
                "purpose": event.purpose,  # type: ignore[attr-defined]
                "position": record.position,
            }
            if isinstance(event, Secret.Released):
                items.append(SecretRelease(outcome="released", version=event.version, **common))
            elif isinstance(event, Secret.Leased):
                items.append(
                    SecretRelease(
                        outcome="leased", version=event.version, until=event.expires_at, **common
                    )
                )
            elif isinstance(event, Secret.Denied):
                items.append(SecretRelease(outcome="denied", reason=event.reason, **common))
        return SecretReleases(name=name, items=items)

    async def refusal_for(self, name: str, purpose: str, actor: str) -> str | None:
        """Why `actor` could not have the value for `purpose` now (None: it could);
        records nothing (a caller checking several secrets before releasing any)."""
        try:
            secret = await self._load(name)
        except SecretMissing:
            return f"no secret named {name!r}"
        return secret.refusal(actor, purpose, self._now())

    async def resolve(
        self, name: str, purpose: str, context: CommandContext, *, service: bool
    ) -> ResolvedSecret:
        """The value, for a granted service token; the release is recorded first."""
        version, value = await self._hand_out(
            name, purpose, context, service, lambda s: s.release(context.actor, purpose)
        )
        return ResolvedSecret(name=name, version=version.version, value=value)

    async def lease(
        self, name: str, request: LeaseRequest, context: CommandContext, *, service: bool
    ) -> LeasedSecret:
        """The value, to keep until the lease ends (never past the grant's expiry);
        one `Leased` event, recorded first, stands for every use in between."""
        ttl = timedelta(seconds=request.ttl_seconds)
        ends: list[datetime] = []

        def record(secret: Secret) -> SealedVersion:
            ends.append(secret.lease(context.actor, request.purpose, self._now(), ttl))
            assert secret.latest is not None
            return secret.latest

        version, value = await self._hand_out(name, request.purpose, context, service, record)
        return LeasedSecret(name=name, version=version.version, value=value, expires_at=ends[0])

    async def _hand_out(
        self,
        name: str,
        purpose: str,
        context: CommandContext,
        service: bool,
        record: Callable[[Secret], SealedVersion],
    ) -> tuple[SealedVersion, str]:
        """Fail-closed: a refusal is recorded and raised; a release is recorded by
        `record`, and only once it is stored is the value opened."""
        secret = await self._load(name)
        reason = (
            "only service tokens resolve values"
            if not service
            else secret.refusal(context.actor, purpose, self._now())
        )
        if reason is not None:
            secret.deny(context.actor, purpose, reason)
            await self._repository.save(secret, context)
            raise ReleaseRefused(context.actor, name, reason)
        version = record(secret)
        await self._repository.save(secret, context)  # fail-closed: no record, no value
        try:
            value = await self._vault.open(secret.id, version.version, name, _sealed(version))
        except KeyGone:
            raise SecretShredded(name) from None
        self._hold(name, value.decode())
        return version, value.decode()

    async def shred(self, name: str, confirm: str, context: CommandContext) -> SecretInfo:
        if confirm != name:
            raise NotConfirmed(name)
        context = scoped(context, f"secret-shred:{name}", confirm)
        if context.idempotency_key is not None:
            prior = await self._store.recall(context.idempotency_key, context.request_hash)
            if prior is not None:  # a retry of the shred that happened
                return await self._info(name, prior.last_position, duplicate=True)
        secret = await self._owned(name, context)
        if secret.shredded:
            raise SecretShredded(name)
        await self._vault.shred(secret.id)  # first: once the keys are gone, so is the value
        return await self._change(name, lambda s: s.shred(context.actor), context)

    async def mask_all(self) -> int:
        """Add every openable version not masked yet to the masks; how many were added."""
        if self._masks is None:
            return 0
        added = 0
        for secret_id, key_ids in (await self._vault.keyed()).items():
            if key_ids <= self._masked:
                continue
            try:
                secret = await self._repository.get(secret_id, Secret)
            except AggregateNotFound:
                continue  # a key sealed for a version whose append failed
            for version in secret.versions:
                if version.key_id in self._masked or version.key_id not in key_ids:
                    continue
                try:
                    value = await self._vault.open(
                        secret_id, version.version, secret.name, _sealed(version)
                    )
                except KeyGone:
                    continue  # shredded meanwhile
                self._masks.add(secret.name, value.decode())
                self._masked.add(version.key_id)
                added += 1
        return added

    # -- helpers -------------------------------------------------------------------------

    async def _seal(
        self, secret_id: UUID, version: int, name: str, value: str
    ) -> tuple[SealedValue, str]:
        """Seal a new version's value (and its fingerprint); this process masks it from
        now on."""
        self._hold(name, value)
        sealed = await self._vault.seal(secret_id, version, name, value.encode())
        self._masked.add(sealed.key_id)
        return sealed, self._vault.fingerprint(value.encode())

    def _hold(self, name: str, value: str) -> None:
        """This process now holds `value`: mask it in everything it outputs from now."""
        if self._masks is not None:
            self._masks.add(name, value)

    async def _load(self, name: str) -> Secret:
        try:
            return await self._repository.get(secret_stream_id(name), Secret)
        except AggregateNotFound:
            raise SecretMissing(name) from None

    async def _owned(self, name: str, context: CommandContext) -> Secret:
        secret = await self._load(name)
        if not context.admin and secret.owner != context.actor:
            raise NotTheOwner(context.actor, name, secret.owner)
        return secret

    async def _change(
        self, name: str, change: Callable[[Secret], None], context: CommandContext
    ) -> SecretInfo:
        result = await execute(
            self._store, self._repository, Secret, secret_stream_id(name),
            change=change, context=context,
        )  # fmt: skip
        return await self._info(name, recorded(result).position, result.duplicate)

    async def _info(self, name: str, position: int = 0, duplicate: bool = False) -> SecretInfo:
        secret = await self._load(name)
        return SecretInfo(
            name=secret.name,
            kind=secret.kind,  # type: ignore[arg-type]
            owner=secret.owner,
            created_at=secret.created_on,
            versions=[
                SecretVersionInfo(
                    version=v.version,
                    fingerprint=v.fingerprint,
                    added_by=v.added_by,
                    added_at=v.added_at,
                )
                for v in secret.versions
            ],
            grants=[
                SecretGrantInfo(
                    principal=principal,
                    purpose=grant.purpose,
                    expires_at=grant.expires_at,
                    granted_by=grant.granted_by,
                )
                for principal, grant in sorted(secret.grants.items())
            ],
            shredded=secret.shredded,
            position=position,
            duplicate=duplicate,
        )


def _sealed(version: SealedVersion) -> SealedValue:
    return SealedValue(
        key_id=version.key_id,
        ciphertext=base64.b64decode(version.ciphertext),
        nonce=base64.b64decode(version.nonce),
    )


def _add(
    secret: Secret,
    sealed: SealedValue,
    fingerprint: str,
    by: str,
    expected: int | None = None,
) -> None:
    if expected is not None and secret.next_version != expected:
        # Another version landed since this one was sealed for `expected`: its sealing
        # binds the version number, so it must be sealed again (the caller retries).
        raise Refused(f"secret {secret.name!r} changed meanwhile; send the value again")
    secret.add_version(
        key_id=sealed.key_id,
        ciphertext=base64.b64encode(sealed.ciphertext).decode(),
        nonce=base64.b64encode(sealed.nonce).decode(),
        fingerprint=fingerprint,
        by=by,
    )
