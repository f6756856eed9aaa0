"""The ports the use cases speak to. Adapters in `infrastructure/` implement them.

Kept as `typing.Protocol`s so that unit tests can hand the application an in-memory
fake and the composition root can hand it asyncpg, with neither side importing the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from msgspec import Struct

from domain.contracts import TraceContext
from domain.errors import Invalid
from domain.limits import LimitCheck, LimitDecision

#: Largest number of events one transaction may append; positions reserve 16 bits for it.
MAX_EVENTS_PER_TRANSACTION = 65_535


class NewEvent(Struct, frozen=True):
    """An event ready to store: already serialised, not yet positioned."""

    event_id: UUID
    event_type: str
    schema_version: int
    topic: str
    state: bytes


class AppendRequest(Struct, frozen=True):
    """Everything one command records, committed together or not at all.

    `expected_version` is the stream version the command was decided against (0 for a
    new stream). `idempotency_key` makes a retry return the first outcome instead of
    recording twice; `request_hash` tells a true retry from a key reused for other work.
    """

    stream_id: UUID
    stream_type: str
    expected_version: int
    events: Sequence[NewEvent]
    actor: str
    correlation_id: UUID
    causation_id: UUID | None = None
    idempotency_key: str | None = None
    request_hash: bytes = b""
    trace_context: TraceContext | None = None
    #: File contents by sha256 that the events refer to; stored in the same transaction.
    blobs: dict[str, bytes] = {}
    #: The API token the actor used, recorded on every event for the audit trail.
    token_id: UUID | None = None


class AppendResult(Struct, frozen=True):
    """Where the events of one append landed. `duplicate` is True for an idempotent replay."""

    stream_id: UUID
    first_version: int
    last_version: int
    first_position: int
    last_position: int
    recorded_at: datetime
    duplicate: bool = False


class RecordedEvent(Struct, frozen=True):
    """One stored row: the envelope fields plus the serialised domain event."""

    event_id: UUID
    stream_id: UUID
    stream_type: str
    stream_version: int
    position: int
    event_type: str
    schema_version: int
    recorded_at: datetime
    correlation_id: UUID
    causation_id: UUID | None
    actor: str
    trace_context: TraceContext | None
    topic: str
    state: bytes
    #: The stream's hash chain: sha256(prev_hash || digest of this event's canonical bytes).
    prev_hash: bytes = b""
    hash: bytes = b""
    #: The API token the actor used, if any.
    token_id: UUID | None = None


class EventStoreError(Exception):
    """Base for failures the caller can act on."""


class ConcurrencyConflict(EventStoreError):
    """The stream moved on since the command read it; nothing was written."""

    def __init__(self, stream_id: UUID, expected_version: int, actual_version: int) -> None:
        super().__init__(
            f"stream {stream_id} is at version {actual_version}, "
            f"but the append expected version {expected_version}"
        )
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version


class IdempotencyKeyReused(EventStoreError, Invalid):
    """The key was first used for a different request; the first outcome stands."""

    field = "Idempotency-Key"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"idempotency key {key!r} was already used for a different request; the first "
            "request's outcome stands. Use a new key for new work."
        )
        self.key = key


class EventStore(Protocol):
    """An append-only log of streams, read per stream or as one global, gap-free log."""

    async def append(self, request: AppendRequest) -> AppendResult:
        """Record all events of one command atomically.

        Raises ConcurrencyConflict when `expected_version` is not the stream's version,
        IdempotencyKeyReused when the key belongs to a different request.
        """
        ...

    async def read_stream(
        self, stream_id: UUID, *, after_version: int = 0, limit: int | None = None
    ) -> list[RecordedEvent]:
        """Events of one stream with version > `after_version`, in version order."""
        ...

    async def read_log(self, *, after_position: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """The next events of the global log after `after_position`.

        Never skips: an event is returned only once no transaction still running could
        commit one before it.
        """
        ...

    async def wait_for_events(self, *, after_position: int, timeout: float) -> bool:
        """Wait up to `timeout` seconds until `read_log(after_position=...)` has something."""
        ...

    async def stream_version(self, stream_id: UUID) -> int:
        """The stream's current version, 0 if it does not exist."""
        ...

    async def head_position(self) -> int:
        """The highest position readers may see now (0 for an empty log)."""
        ...

    async def recall(self, idempotency_key: str, request_hash: bytes) -> AppendResult | None:
        """The outcome first recorded under this key (duplicate=True), or None if unused.

        Raises IdempotencyKeyReused when the key was used for a different request.
        """
        ...

    async def find_event(self, event_id: UUID) -> RecordedEvent | None:
        """One event by its id, wherever it is."""
        ...

    async def version_at(self, stream_id: UUID, moment: datetime) -> int:
        """The stream's version as it stood at `moment` (0 if it did not exist yet)."""
        ...


class BlobStore(Protocol):
    """Content-addressed file contents. Written through `AppendRequest.blobs`."""

    async def get_many(self, hashes: Iterable[str]) -> dict[str, bytes]:
        """The contents of these hashes; a missing hash is an error, not an omission."""
        ...


class StoredSnapshot(Struct, frozen=True):
    """An aggregate's state at one version, serialised by the event codec."""

    stream_id: UUID
    version: int
    topic: str
    state: bytes


class SnapshotStore(Protocol):
    """Derived, disposable aggregate snapshots: loading cost independent of history."""

    async def latest(self, stream_id: UUID, *, at_most: int | None = None) -> StoredSnapshot | None:
        """The newest snapshot at or below version `at_most` (any version if None)."""
        ...

    async def save(self, snapshot: StoredSnapshot) -> None:
        """Keep a snapshot; saving the same version twice is harmless."""
        ...


class Clock(Protocol):
    """Where "now" comes from, so that tests can pin it."""

    def now(self) -> datetime: ...


class SealedValue(Struct, frozen=True):
    """A value sealed under its own data key (whose wrapped form the vault keeps)."""

    key_id: UUID
    ciphertext: bytes
    nonce: bytes


class KeyGone(LookupError):
    """A secret version's data key is gone (shredded): its value can never be opened."""


class Masks(Protocol):
    """What masks secret values in the process's output (infrastructure/secrets/
    redaction.py): every value the process holds is added as it is seen."""

    def add(self, name: str, value: str) -> None: ...

    def __len__(self) -> int:
        """How many renderings it knows (0: the process holds no value)."""
        ...

    def found_in(self, text: str) -> str | None:
        """The name of a secret whose value (in any rendering) is in `text`, if any."""
        ...

    def redact(self, text: str) -> str:
        """`text` with every rendering of every value replaced by `[REDACTED:<name>]`."""
        ...


class SecretVault(Protocol):
    """Envelope encryption of secret values; data keys are kept (and shredded) here,
    never in the log."""

    def fingerprint(self, value: bytes) -> str: ...

    async def seal(self, secret_id: UUID, version: int, name: str, value: bytes) -> SealedValue:
        """Seal `value` under a fresh data key bound to (secret, version, name)."""
        ...

    async def open(self, secret_id: UUID, version: int, name: str, sealed: SealedValue) -> bytes:
        """The value; raises KeyGone when shredded, InvalidTag when moved or altered."""
        ...

    async def shred(self, secret_id: UUID) -> int:
        """Delete the secret's data keys; how many there were."""
        ...

    async def keyed(self) -> dict[UUID, set[UUID]]:
        """Every secret with a data key left, and those keys' ids: what can be opened."""
        ...


class RateLimiter(Protocol):
    """Decides rate limits and quotas for a request, all of its checks together."""

    async def check(self, checks: Sequence[LimitCheck]) -> LimitDecision: ...
