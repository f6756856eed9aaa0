"""In-memory stand-ins for the ports: unit tests of the domain, the use cases and the HTTP
app (tests/unit/test_http_on_fakes.py) run on them, without PostgreSQL or NATS."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from uuid import UUID

import msgspec

from application.access import TokenInfo
from application.aggregates import AggregateRepository
from application.pages import decode_cursor, encode_cursor
from application.ports import (
    AppendRequest,
    AppendResult,
    ConcurrencyConflict,
    IdempotencyKeyReused,
    KeyGone,
    RecordedEvent,
    SealedValue,
    StoredSnapshot,
)
from application.workspace_queries import WorkspaceQueries
from domain.contracts import (
    DeliveryReport,
    DeliveryReportPage,
    DeliveryStatus,
    FollowerLag,
    IncidentPage,
    IncidentStatus,
    IncidentView,
    OpsOverview,
    SecretPage,
    SecretSummary,
    WorkspacePage,
)
from domain.secrets import Secret


class InMemoryEventStore:
    """Keeps the EventStore contract (versions, idempotency) without a database."""

    def __init__(self) -> None:
        self.log: list[RecordedEvent] = []
        self._keys: dict[str, tuple[bytes, AppendResult]] = {}
        self.blobs: dict[str, bytes] = {}
        self.reads = 0
        self.last_read_after = 0

    async def append(self, request: AppendRequest) -> AppendResult:
        if request.idempotency_key in self._keys:
            request_hash, result = self._keys[request.idempotency_key]
            if request_hash != request.request_hash:
                raise IdempotencyKeyReused(request.idempotency_key)
            return AppendResult(**{**_fields(result), "duplicate": True})
        version = await self.stream_version(request.stream_id)
        if version != request.expected_version:
            raise ConcurrencyConflict(request.stream_id, request.expected_version, version)
        self.blobs.update(request.blobs)
        now = datetime.now(UTC)
        first_position = len(self.log) + 1
        for offset, event in enumerate(request.events):
            self.log.append(
                RecordedEvent(
                    event_id=event.event_id,
                    stream_id=request.stream_id,
                    stream_type=request.stream_type,
                    stream_version=version + offset + 1,
                    position=first_position + offset,
                    event_type=event.event_type,
                    schema_version=event.schema_version,
                    recorded_at=now,
                    correlation_id=request.correlation_id,
                    causation_id=request.causation_id,
                    actor=request.actor,
                    trace_context=request.trace_context,
                    topic=event.topic,
                    state=event.state,
                )
            )
        result = AppendResult(
            stream_id=request.stream_id,
            first_version=version + 1,
            last_version=version + len(request.events),
            first_position=first_position,
            last_position=len(self.log),
            recorded_at=now,
        )
        if request.idempotency_key is not None:
            self._keys[request.idempotency_key] = (request.request_hash, result)
        return result

    async def read_stream(
        self, stream_id: UUID, *, after_version: int = 0, limit: int | None = None
    ) -> list[RecordedEvent]:
        self.reads += 1
        self.last_read_after = after_version
        events = [
            e for e in self.log if e.stream_id == stream_id and e.stream_version > after_version
        ]
        return events if limit is None else events[:limit]

    async def read_log(self, *, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        return [e for e in self.log if e.position > after_position][:limit]

    async def wait_for_events(self, *, after_position: int, timeout: float) -> bool:
        return any(e.position > after_position for e in self.log)

    async def head_position(self) -> int:
        return max((e.position for e in self.log), default=0)

    async def stream_version(self, stream_id: UUID) -> int:
        return max((e.stream_version for e in self.log if e.stream_id == stream_id), default=0)

    async def recall(self, idempotency_key: str, request_hash: bytes) -> AppendResult | None:
        if idempotency_key not in self._keys:
            return None
        stored_hash, result = self._keys[idempotency_key]
        if stored_hash != request_hash:
            raise IdempotencyKeyReused(idempotency_key)
        return AppendResult(**{**_fields(result), "duplicate": True})

    async def find_event(self, event_id: UUID) -> RecordedEvent | None:
        return next((e for e in self.log if e.event_id == event_id), None)

    async def version_at(self, stream_id: UUID, moment: datetime) -> int:
        return max(
            (
                e.stream_version
                for e in self.log
                if e.stream_id == stream_id and e.recorded_at <= moment
            ),
            default=0,
        )


class InMemoryBlobStore:
    """Shares the blobs an InMemoryEventStore received in its appends."""

    def __init__(self, store: InMemoryEventStore) -> None:
        self._store = store
        self.fetches = 0

    async def get_many(self, hashes: Iterable[str]) -> dict[str, bytes]:
        self.fetches += 1
        return {sha: self._store.blobs[sha] for sha in hashes}


class InMemorySnapshotStore:
    def __init__(self) -> None:
        self.saved: dict[tuple[UUID, int], StoredSnapshot] = {}

    async def latest(self, stream_id: UUID, *, at_most: int | None = None) -> StoredSnapshot | None:
        versions = [
            v for (s, v) in self.saved if s == stream_id and (at_most is None or v <= at_most)
        ]
        return self.saved[(stream_id, max(versions))] if versions else None

    async def save(self, snapshot: StoredSnapshot) -> None:
        self.saved.setdefault((snapshot.stream_id, snapshot.version), snapshot)


def _fields(result: AppendResult) -> dict[str, object]:
    return {name: getattr(result, name) for name in result.__struct_fields__}


# -- read models and tokens: what the HTTP app needs besides the store ------------------


class InMemoryTokenStore:
    """Keeps the TokenStore contract: hashed secrets, revocation, listing order."""

    def __init__(self) -> None:
        self._tokens: dict[UUID, tuple[TokenInfo, bytes]] = {}

    async def add(self, info: TokenInfo, secret_hash: bytes) -> None:
        self._tokens[info.id] = (info, secret_hash)

    async def find_active(self, secret_hash: bytes) -> TokenInfo | None:
        for info, stored in self._tokens.values():
            if stored == secret_hash and info.revoked_at is None:
                return info
        return None

    async def list(self, *, include_revoked: bool = False) -> list[TokenInfo]:
        infos = [info for info, _ in self._tokens.values()]
        return sorted(
            (i for i in infos if include_revoked or i.revoked_at is None),
            key=lambda i: i.created_at,
        )

    async def revoke(self, token_id: UUID, at: datetime) -> bool:
        found = self._tokens.get(token_id)
        if found is None or found[0].revoked_at is not None:
            return False
        self._tokens[token_id] = (msgspec.structs.replace(found[0], revoked_at=at), found[1])
        return True


class CaughtUpFollowers:
    """Read models that are always caught up (the fakes below read the log directly)."""

    async def lags(self) -> list[FollowerLag]:
        return []

    async def wait_for(self, name: str, position: int, timeout: float) -> bool:
        return True


class LogSecretList:
    """The secret list read straight from an in-memory log."""

    def __init__(self, store: InMemoryEventStore) -> None:
        self._store = store
        self._repository = AggregateRepository(store)

    async def page(self, *, limit: int, cursor: str | None, visible_to: str | None) -> SecretPage:
        ids = dict.fromkeys(e.stream_id for e in self._store.log if e.stream_type == "Secret")
        secrets = [await self._repository.get(i, Secret) for i in ids]
        after = decode_cursor(cursor, tuple[str])[0] if cursor else ""
        shown = sorted(
            (s for s in secrets if visible_to in (None, s.owner) and s.name > after),
            key=lambda s: s.name,
        )
        items = [
            SecretSummary(
                name=s.name,
                kind=s.kind,  # type: ignore[arg-type]
                owner=s.owner,
                created_at=s.created_on,
                changed_at=s.versions[-1].added_at if s.versions else s.created_on,
                versions=len(s.versions),
                grants=len(s.grants),
                shredded=s.shredded,
            )
            for s in shown[:limit]
        ]
        more = len(shown) > limit
        return SecretPage(
            items=items,
            next_cursor=encode_cursor(items[-1].name) if more else None,
            as_of_position=await self._store.head_position(),
        )


class LogWorkspaceList:
    """The workspace list read straight from an in-memory log, through the use cases."""

    def __init__(self, store: InMemoryEventStore) -> None:
        self._store = store
        blobs = InMemoryBlobStore(store)
        self._queries = WorkspaceQueries(store, blobs, AggregateRepository(store))

    async def page(
        self,
        *,
        name: str | None,
        created_by: str | None,
        limit: int,
        cursor: str | None,
        visible_to: str | None = None,
    ) -> WorkspacePage:
        ids = [e.stream_id for e in self._store.log if e.stream_type == "Workspace"]
        visible = [
            i
            for i in dict.fromkeys(ids)
            if visible_to is None
            or (await self._queries.workspace(i)).access_of(visible_to) is not None
        ]
        summaries = [await self._queries.summary(i, None) for i in visible]
        matching = [
            s
            for s in sorted(summaries, key=lambda s: (s.created_at, s.id), reverse=True)
            if (name is None or s.name == name)
            and (created_by is None or s.created_by == created_by)
        ]
        start = decode_cursor(cursor, tuple[int])[0] if cursor else 0
        items = matching[start : start + limit]
        more = start + limit < len(matching)
        return WorkspacePage(
            items=items,
            next_cursor=encode_cursor(start + limit) if more else None,
            as_of_position=await self._store.head_position(),
        )

    async def with_prefix(self, low: UUID, high: UUID, limit: int) -> list[UUID]:
        ids = {e.stream_id for e in self._store.log if e.stream_type == "Workspace"}
        return sorted(i for i in ids if low <= i <= high)[:limit]


class EmptyDeliveryReports:
    """No factory has reported anything yet."""

    async def report(self, task_id: str, *, visible_to: str | None) -> DeliveryReport | None:
        return None

    async def page(
        self,
        *,
        factory: str | None,
        status: DeliveryStatus | None,
        since: datetime | None,
        limit: int,
        cursor: str | None,
        visible_to: str | None,
    ) -> DeliveryReportPage:
        return DeliveryReportPage(items=[], next_cursor=None, as_of_position=0)


class QuietOpsViews:
    """No source has reported anything yet."""

    async def overview(self, now: datetime) -> OpsOverview:
        return OpsOverview(
            generated_at=now, sources=[], open_incidents=[], recent_alerts=[], followers=[]
        )

    async def incidents(
        self, *, status: IncidentStatus | None, limit: int, cursor: str | None
    ) -> IncidentPage:
        return IncidentPage(items=[], next_cursor=None, as_of_position=0)

    async def incident(self, incident_id: UUID) -> IncidentView | None:
        return None


class InMemoryVault:
    """Keeps values by key id, "sealed" as random bytes: the application's view of a
    vault (seal, open, shred), without the cryptography (tested on its own)."""

    def __init__(self) -> None:
        self.values: dict[UUID, tuple[UUID, bytes]] = {}

    def fingerprint(self, value: bytes) -> str:
        return hashlib.sha256(b"fake" + value).hexdigest()[:32]

    async def seal(self, secret_id: UUID, version: int, name: str, value: bytes) -> SealedValue:
        key_id = uuid.uuid4()
        self.values[key_id] = (secret_id, value)
        return SealedValue(key_id=key_id, ciphertext=os.urandom(len(value)), nonce=b"n" * 12)

    async def open(self, secret_id: UUID, version: int, name: str, sealed: SealedValue) -> bytes:
        if sealed.key_id not in self.values:
            raise KeyGone(name)
        return self.values[sealed.key_id][1]

    async def keyed(self) -> dict[UUID, set[UUID]]:
        keyed: dict[UUID, set[UUID]] = {}
        for key_id, (secret_id, _) in self.values.items():
            keyed.setdefault(secret_id, set()).add(key_id)
        return keyed

    async def shred(self, secret_id: UUID) -> int:
        gone = [k for k, (owner, _) in self.values.items() if owner == secret_id]
        for key_id in gone:
            del self.values[key_id]
        return len(gone)
