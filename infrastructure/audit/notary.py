"""The `audit` follower: chains the global log and signs its head.

Per-stream chains are computed at append time. The global order can only be chained
once it no longer changes, i.e. below the watermark, which is where followers read:
so this follower writes one `vibehq_log_chain` link per event, in the same transaction
as its checkpoint (exactly once, like a projection), and signs the chain head into
`vibehq_log_checkpoints` every `every` events, or when it has caught up and
`seconds` have passed since the last signature.
"""

from __future__ import annotations

import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from application.audit import ZERO_HASH, checkpoint_message, log_link
from application.ports import EventStore, RecordedEvent
from infrastructure.audit.keys import public_bytes
from infrastructure.log_follower import LeasedFollower
from infrastructure.pool import DbConnection
from infrastructure.projections.checkpoints import advance, lock_position

AUDIT = "audit"


class Notary(LeasedFollower):
    def __init__(
        self,
        *,
        dsn: str,
        store: EventStore,
        key: Ed25519PrivateKey,
        every: int = 1000,
        seconds: float = 10.0,
        batch_size: int = 500,
        poll_interval: float = 0.5,
        lease_retry: float = 1.0,
        linger: float = 0.0,
    ) -> None:
        super().__init__(
            name=AUDIT,
            dsn=dsn,
            store=store,
            batch_size=batch_size,
            poll_interval=poll_interval,
            lease_retry=lease_retry,
            linger=linger,
        )
        self._key = key
        self._public = public_bytes(key)
        self._every = every
        self._seconds = seconds
        self._head = ZERO_HASH
        self._chained = 0
        self._unsigned = 0
        self._signed_at = 0.0

    async def _prepare(self, conn: DbConnection, model_version: int) -> None:
        row = await conn.fetchrow(
            "SELECT log_hash, (SELECT count(*) FROM vibehq_log_chain) AS links "
            "FROM vibehq_log_chain ORDER BY position DESC LIMIT 1"
        )
        self._head = row["log_hash"] if row else ZERO_HASH
        self._chained = row["links"] if row else 0
        signed = await conn.fetchval("SELECT max(to_position) FROM vibehq_log_checkpoints")
        last = await conn.fetchval("SELECT max(position) FROM vibehq_log_chain")
        self._unsigned = 0 if signed == last else 1
        self._signed_at = 0.0

    async def _handle(self, conn: DbConnection, events: list[RecordedEvent]) -> int:
        async with conn.transaction():
            current = await lock_position(conn, self.name)
            fresh = [event for event in events if event.position > current]
            if fresh:
                head = self._head
                positions, hashes, links = [], [], []
                for event in fresh:
                    head = log_link(head, event.position, event.hash)
                    positions.append(event.position)
                    hashes.append(event.hash)
                    links.append(head)
                await conn.execute(
                    "INSERT INTO vibehq_log_chain (position, event_hash, log_hash) "
                    "SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[])",
                    positions,
                    hashes,
                    links,
                )
                last = fresh[-1]
                await advance(conn, self.name, last.position, len(fresh), last.recorded_at)
                caught_up = len(events) < self._batch_size
                unsigned = self._unsigned + len(fresh)
                due = unsigned >= self._every or (
                    caught_up and time.monotonic() - self._signed_at >= self._seconds
                )
                if due:
                    await self._sign(conn, last.position, self._chained + len(fresh), head)
            else:
                head, unsigned, due = self._head, self._unsigned, False
        if fresh:  # only once the transaction committed
            self._head = head
            self._chained += len(fresh)
            self._unsigned = 0 if due else unsigned
            if due:
                self._signed_at = time.monotonic()
        return max(current, events[-1].position)

    async def _sign(
        self, conn: DbConnection, to_position: int, events: int, log_hash: bytes
    ) -> None:
        signature = self._key.sign(checkpoint_message(to_position, events, log_hash))
        await conn.execute(
            "INSERT INTO vibehq_log_checkpoints "
            "(to_position, events, log_hash, public_key, signature) VALUES ($1, $2, $3, $4, $5)",
            to_position,
            events,
            log_hash,
            self._public,
            signature,
        )
