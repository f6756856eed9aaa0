"""Terminal output of agent sessions, published straight to JetStream.

Terminal bytes are not domain facts: they are many, short-lived and only worth
keeping for a day, so they skip the event log and go to their own stream
(`<P>_TERMINAL`, max age one day). Each message carries its per-session sequence
number, which a reconnecting viewer sends back to resume without gaps or repeats;
`Nats-Msg-Id` = `<session>:<seq>` makes a retried write harmless.

Agents' runners write through `POST /terminal/{session}/output` (`append`): chunks
numbered by the writer, so a retry is recognised and a gap refused; the session's
first writer owns it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Final

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from domain.contracts import TerminalAccepted, TerminalChunk, TerminalOutput
from domain.errors import Forbidden, Refused
from infrastructure.fanout.subjects import Subjects
from infrastructure.secrets.redaction import REDACTOR, Redactor, StreamRedactor

SEQ_HEADER: Final = "Vibehq-Seq"
#: Who wrote a chunk; the session's first writer owns it.
WRITER_HEADER: Final = "Vibehq-Writer"


class NotTheWriter(Forbidden):
    def __init__(self, actor: str, session_id: str, owner: str) -> None:
        super().__init__(
            f"{actor} may not write to terminal session {session_id}: {owner} writes it"
        )


class OutOfOrder(Refused):
    def __init__(self, session_id: str, seq: int, expected: int) -> None:
        super().__init__(
            f"chunk {seq} of terminal session {session_id} came before chunk {expected}; "
            f"send {expected} first"
        )
        self.expected = expected


class TerminalPublisher:
    def __init__(
        self, js: JetStreamContext, subjects: Subjects, redactor: Redactor = REDACTOR
    ) -> None:
        self._js = js
        self._subjects = subjects
        self._redactor = redactor
        #: Per session: masks secret values before output is published, even when a
        #: value arrives split across chunks (the start of one waits for the next chunk).
        self._masks: dict[str, StreamRedactor] = {}
        self._next: dict[str, int] = {}
        self._writers: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def write(self, session_id: str, data: str) -> TerminalOutput:
        """Publish `data` as the session's next output; returns it with its sequence."""
        async with self._locks.setdefault(session_id, asyncio.Lock()):
            subject = self._subjects.terminal(session_id)
            if session_id not in self._next:
                self._next[session_id] = await self._last_seq(subject) + 1
            output = TerminalOutput(
                session_id=session_id,
                seq=self._next[session_id],
                data=self._masked(session_id, data),
                at=datetime.now(UTC),
            )
            await self._js.publish(
                subject,
                msgspec.json.encode(output),
                headers={
                    "Nats-Msg-Id": f"{session_id}:{output.seq}",
                    SEQ_HEADER: str(output.seq),
                },
            )
            self._next[session_id] += 1
            return output

    async def append(
        self, session_id: str, chunk: TerminalChunk, *, actor: str, admin: bool = False
    ) -> TerminalAccepted:
        """Publish a writer's numbered chunk: the next one is published, an earlier one
        is a retry (nothing published again), a later one is refused (one is missing).
        The session's first writer owns it; another actor (but an admin) is refused.

        Several processes may take chunks for one session: `Nats-Msg-Id` =
        `<session>:<seq>` lets JetStream keep one copy of a chunk sent twice.
        """
        async with self._locks.setdefault(session_id, asyncio.Lock()):
            subject = self._subjects.terminal(session_id)
            if session_id not in self._next:
                self._next[session_id], owner = await self._last(subject)
                if owner:
                    self._writers[session_id] = owner
            owner = self._writers.get(session_id)
            if owner is not None and owner != actor and not admin:
                raise NotTheWriter(actor, session_id, owner)
            expected = self._next[session_id]
            if chunk.seq < expected:
                return TerminalAccepted(session_id=session_id, seq=chunk.seq, duplicate=True)
            if chunk.seq > expected:
                raise OutOfOrder(session_id, chunk.seq, expected)
            output = TerminalOutput(
                session_id=session_id,
                seq=chunk.seq,
                data=self._masked(session_id, chunk.data),
                at=datetime.now(UTC),
            )
            ack = await self._js.publish(
                subject,
                msgspec.json.encode(output),
                headers={
                    "Nats-Msg-Id": f"{session_id}:{chunk.seq}",
                    SEQ_HEADER: str(chunk.seq),
                    WRITER_HEADER: owner or actor,
                },
            )
            self._next[session_id] = expected + 1
            self._writers.setdefault(session_id, actor)
            return TerminalAccepted(
                session_id=session_id, seq=chunk.seq, duplicate=bool(ack.duplicate)
            )

    def _masked(self, session_id: str, data: str) -> str:
        mask = self._masks.get(session_id)
        if mask is None:
            mask = self._masks[session_id] = self._redactor.stream()
        return mask.feed(data)

    async def _last_seq(self, subject: str) -> int:
        return (await self._last(subject))[0] - 1

    async def _last(self, subject: str) -> tuple[int, str | None]:
        """The session's next sequence number and its writer (None: nobody wrote yet)."""
        try:
            last = await self._js.get_last_msg(self._subjects.terminal_stream, subject)
        except NotFoundError:
            return 1, None
        headers = last.headers or {}
        return int(headers.get(SEQ_HEADER, "0")) + 1, headers.get(WRITER_HEADER)
