"""One subscriber's ordered, bounded view of a JetStream stream.

Each feed is an ordered push consumer (ephemeral, flow-controlled, no acks) whose
messages land in a bounded queue. A subscriber that falls `limit` messages behind
is not allowed to slow anyone down: its feed stops, and `next()` raises `FellBehind`
naming the last sequence it received, so it can reconnect and resume from there
without gaps.

A `paced` feed (a reader that takes everything, like `vibehq tail`) never falls
behind: when its buffer is full, its consumer waits, so JetStream's flow control
holds the rest of the backlog back until the reader catches up. Every feed that
resumes (after a sequence, from a moment or from the start) is paced the same way
through the backlog the stream held when it opened, whatever its size; only from
there on is it live, and let go if it falls behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Final

from msgspec import Struct
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

IDLE_HEARTBEAT: Final = 5.0


class FeedMessage(Struct, frozen=True):
    seq: int
    subject: str
    headers: dict[str, str]
    data: bytes


class FellBehind(Exception):
    def __init__(self, last_seq: int, limit: int) -> None:
        super().__init__(
            f"fell more than {limit} messages behind; resume after sequence {last_seq}"
        )
        self.last_seq = last_seq
        self.limit = limit


class Feed:
    def __init__(self, limit: int, *, paced: bool = False) -> None:
        self._queue: asyncio.Queue[FeedMessage] = asyncio.Queue(maxsize=limit)
        self._limit = limit
        self._paced = paced
        self._delivered_seq = 0
        #: Messages up to this stream sequence are the backlog: paced, never dropped.
        self._backlog_until = 0
        self.overflowed = asyncio.Event()
        #: Set whenever a message arrives (consumers may clear it).
        self.activity = asyncio.Event()
        self._subscription: object | None = None

    @classmethod
    async def open(
        cls,
        js: JetStreamContext,
        *,
        stream: str,
        subjects: list[str],
        after_seq: int | None = None,
        since: datetime | None = None,
        from_start: bool = False,
        limit: int = 1000,
        paced: bool = False,
    ) -> Feed:
        """Start delivering after stream sequence `after_seq`, from `since`, from the
        start, or (default) only what is published from now on."""
        feed = cls(limit, paced=paced)
        config = ConsumerConfig(filter_subjects=subjects, inactive_threshold=30.0)
        if after_seq is not None:
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = after_seq + 1
        elif since is not None:
            config.deliver_policy = DeliverPolicy.BY_START_TIME
            config.opt_start_time = since
        elif from_start:
            config.deliver_policy = DeliverPolicy.ALL
        else:
            config.deliver_policy = DeliverPolicy.NEW
        if config.deliver_policy is not DeliverPolicy.NEW and not paced:
            info = await js.stream_info(stream)
            feed._backlog_until = info.state.last_seq
        feed._subscription = await js.subscribe(
            subjects[0],
            stream=stream,
            cb=feed._on_message,
            ordered_consumer=True,
            idle_heartbeat=IDLE_HEARTBEAT,
            config=config,
        )
        return feed

    @property
    def limit(self) -> int:
        return self._limit

    async def _on_message(self, msg: Msg) -> None:
        if self.overflowed.is_set():
            return
        seq = msg.metadata.sequence.stream
        item = FeedMessage(seq, msg.subject, dict(msg.headers or {}), msg.data)
        if self._paced or seq <= self._backlog_until:
            await self._queue.put(item)  # holds this consumer (only) until there is room
            self.activity.set()
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed.set()
        self.activity.set()

    async def next(self) -> FeedMessage:
        """The next message; raises FellBehind once the buffer overflowed."""
        if self.overflowed.is_set():
            raise FellBehind(self._delivered_seq, self._limit)
        getter = asyncio.ensure_future(self._queue.get())
        overflow = asyncio.ensure_future(self.overflowed.wait())
        try:
            done, _ = await asyncio.wait({getter, overflow}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled (the client left): leave no waiter behind
            getter.cancel()
            raise
        finally:
            overflow.cancel()
        if getter not in done:
            getter.cancel()
            raise FellBehind(self._delivered_seq, self._limit)
        message = getter.result()
        self._delivered_seq = message.seq
        return message

    async def close(self) -> None:
        subscription = self._subscription
        self._subscription = None
        if subscription is not None:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()  # type: ignore[attr-defined]
