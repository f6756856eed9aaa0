"""Tamper evidence: the canonical hash of an event, the chains, and how to check them.

Each stream is a hash chain (computed by the event store at append time): an event's
`hash` is sha256(prev_hash || digest), the digest covering every stored field. The
global order is chained after the fact (one link per position, see `log_link`) and
the chain head is signed now and then with an Ed25519 key kept outside the database.

`LogVerifier` reads rows in position order and names each problem and its kind.
Someone with write access to the database can recompute per-stream hashes after a
change; they cannot re-sign checkpoints, which is what makes the log tamper-evident
rather than merely checksummed.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Final, Literal

from msgspec import Struct

from application.ports import RecordedEvent

ZERO_HASH: Final = bytes(32)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_CHECKPOINT_DOMAIN: Final = b"vibehq-log-checkpoint-v1\x00"

ProblemKind = Literal[
    "payload or metadata changed",
    "event deleted",
    "event inserted",
    "events reordered",
    "log chain broken",
    "checkpoint does not match the log",
    "checkpoint signature invalid",
]


def _field(value: bytes | None) -> bytes:
    if value is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(value)) + value


def _text(value: str | None) -> bytes | None:
    return None if value is None else value.encode()


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


_MICROSECOND: Final = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - _EPOCH


def event_digest(event: RecordedEvent) -> bytes:
    """sha256 of the event's canonical bytes; `vibehq_event_digest` in SQL computes the same."""
    trace = event.trace_context
    parts: list[bytes | None] = [
        event.event_id.bytes,
        event.stream_id.bytes,
        struct.pack(">q", event.stream_version),
        _text(event.stream_type),
        _text(event.event_type),
        struct.pack(">i", event.schema_version),
        struct.pack(">q", _micros(event.recorded_at)),
        event.correlation_id.bytes,
        event.causation_id.bytes if event.causation_id else None,
        _text(event.actor),
        _text(trace.traceparent) if trace else None,
        _text(trace.tracestate) if trace else None,
        _text(event.topic),
        event.state,
        event.token_id.bytes if event.token_id else None,
    ]
    return hashlib.sha256(b"".join(_field(part) for part in parts)).digest()


def chained(prev_hash: bytes, digest: bytes) -> bytes:
    return hashlib.sha256(prev_hash + digest).digest()


def log_link(prev_log_hash: bytes, position: int, event_hash: bytes) -> bytes:
    """The global chain's next link: binds the event's hash to its position in the log."""
    return hashlib.sha256(prev_log_hash + struct.pack(">q", position) + event_hash).digest()


def checkpoint_message(to_position: int, events: int, log_hash: bytes) -> bytes:
    """The bytes a checkpoint signature covers."""
    return _CHECKPOINT_DOMAIN + struct.pack(">qq", to_position, events) + log_hash


class Finding(Struct, frozen=True):
    position: int
    kind: ProblemKind
    detail: str


class AuditRow(Struct, frozen=True):
    """One position of the log as the verifier sees it: the event stored there (if any),
    its stream predecessor, and the global chain's link for it (if any)."""

    position: int
    event: RecordedEvent | None
    stream_prev_version: int | None
    stream_prev_hash: bytes | None
    chained_hash: bytes | None
    log_hash: bytes | None


class Checkpoint(Struct, frozen=True):
    to_position: int
    events: int
    log_hash: bytes
    public_key: bytes
    signature: bytes


#: (public key, message, signature) -> valid?
SignatureCheck = Callable[[bytes, bytes, bytes], bool]


class LogVerifier:
    """Feed it rows in position order, then checkpoints; read `problems`."""

    def __init__(
        self,
        *,
        trusted_key: bytes | None,
        check_signature: SignatureCheck,
        log_hash_before: bytes = ZERO_HASH,
        chain_head: int = 0,
    ) -> None:
        self._trusted_key = trusted_key
        self._check_signature = check_signature
        self._log_hash = log_hash_before
        self._chain_head = chain_head
        self._mismatched: dict[int, bytes] = {}  # position -> hash of the event found there
        self._chained_at: dict[bytes, int] = {}  # chained hash -> position, for mismatches
        self._head_at = -1  # the position self._log_hash is the chain's head at
        #: The last checkpoint whose signature held and whose head the rows matched.
        self.vouched: Checkpoint | None = None
        self.problems: list[Finding] = []
        self.events = 0

    def row(self, row: AuditRow) -> None:
        event = row.event
        if event is not None:
            self.events += 1
            self._check_event(row, event)
        if row.chained_hash is None:
            if event is not None and row.position <= self._chain_head:
                self._report(row.position, "event inserted", "no link in the global chain")
            return
        expected_link = log_link(self._log_hash, row.position, row.chained_hash)
        if row.log_hash != expected_link:
            self._report(row.position, "log chain broken", "link does not follow its predecessor")
        self._log_hash = row.log_hash or expected_link
        self._head_at = row.position
        if event is None:
            self._report(row.position, "event deleted", "the global chain has an event here")
        elif event.hash != row.chained_hash:
            self._mismatched[row.position] = event.hash
            self._chained_at[row.chained_hash] = row.position

    def _check_event(self, row: AuditRow, event: RecordedEvent) -> None:
        if chained(event.prev_hash, event_digest(event)) != event.hash:
            self._report(row.position, "payload or metadata changed", _describe(event))
        if row.stream_prev_version is None and event.stream_version != 1:
            self._report(
                row.position,
                "event deleted",
                f"stream {event.stream_id} starts at version {event.stream_version}",
            )
        elif row.stream_prev_version is not None and (
            row.stream_prev_version != event.stream_version - 1
        ):
            self._report(
                row.position,
                "event deleted",
                f"stream {event.stream_id} jumps from version {row.stream_prev_version} "
                f"to {event.stream_version}",
            )
        elif row.stream_prev_hash is not None and row.stream_prev_hash != event.prev_hash:
            self._report(
                row.position,
                "payload or metadata changed",
                f"the previous event of stream {event.stream_id} was rewritten",
            )

    def checkpoint(self, checkpoint: Checkpoint) -> None:
        """Check a checkpoint's signature, and the chain head it vouches for if the
        rows fed so far end at its position (feed each one as its position passes:
        memory stays flat however long the log)."""
        position = checkpoint.to_position
        message = checkpoint_message(position, checkpoint.events, checkpoint.log_hash)
        trusted = self._trusted_key is None or checkpoint.public_key == self._trusted_key
        if not trusted or not self._check_signature(
            checkpoint.public_key, message, checkpoint.signature
        ):
            why = "signed by another key" if not trusted else "signature does not verify"
            self._report(position, "checkpoint signature invalid", why)
            return
        if self._head_at != position:
            return
        if self._log_hash != checkpoint.log_hash:
            self._report(position, "checkpoint does not match the log", "the chain was rewritten")
        else:
            self.vouched = checkpoint

    def finish(self) -> None:
        """After the last row and checkpoint: settle what needed the whole range."""
        self._settle_mismatches()
        self.problems.sort(key=lambda problem: problem.position)

    def _settle_mismatches(self) -> None:
        for position, found in self._mismatched.items():
            origin = self._chained_at.get(found)
            if origin is not None and origin != position:
                self._report(
                    position, "events reordered", f"this event was chained at position {origin}"
                )
            elif not any(p.position == position for p in self.problems):
                self._report(
                    position,
                    "payload or metadata changed",
                    "its hash is not the one the global chain recorded",
                )
        self._mismatched.clear()

    def _report(self, position: int, kind: ProblemKind, detail: str) -> None:
        self.problems.append(Finding(position, kind, detail))


def _describe(event: RecordedEvent) -> str:
    return f"{event.event_type} v{event.stream_version} of stream {event.stream_id}"


def first_of_each_kind(problems: Iterable[Finding]) -> dict[ProblemKind, tuple[int, int]]:
    """kind -> (first position, how many)."""
    summary: dict[ProblemKind, tuple[int, int]] = {}
    for problem in problems:
        first, count = summary.get(problem.kind, (problem.position, 0))
        summary[problem.kind] = (min(first, problem.position), count + 1)
    return summary
