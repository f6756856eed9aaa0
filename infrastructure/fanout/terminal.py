"""Terminal output of agent sessions, published straight to JetStream.

Terminal bytes are not domain facts: they are many, short-lived and only worth
keeping for a day, so they skip the event log and go to their own stream
(`<P>_TERMINAL`, max age one day). Each message carries its per-session sequence
number, which a reconnecting viewer sends back to resume without gaps or repeats;
`Nats-Msg-Id` = `<session>:<seq>` makes a retried write harmless.

Agents' runners write through `POST /terminal/{session}/output` (`append`): chunks
numbered by the writer, so a retry is recognised and a gap refused; the session's
first writer owns it. A writer in the process uses `write` (the next number, no
owner check). Either way, any process may take a session's next chunk: what one chunk
needs of the ones before (the next number, the writer, the masked stream's held-back
end) is read from the session's last message, not kept in the process. The held-back
end is the start of what may be a secret split across chunks, so it travels sealed
under the master key (`Vibehq-Held`), never in clear.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from datetime import UTC, datetime
from typing import Final

import msgspec
from cryptography.exceptions import InvalidTag
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from domain.contracts import TerminalAccepted, TerminalChunk, TerminalOutput
from domain.errors import Forbidden, Refused
from infrastructure.fanout.subjects import Subjects
from infrastructure.secrets.keys import KeyWrap, MasterKeyError
from infrastructure.secrets.redaction import REDACTOR, Redactor

log = logging.getLogger(__name__)

SEQ_HEADER: Final = "Vibehq-Seq"
#: Who wrote a chunk; the session's first writer owns it.
WRITER_HEADER: Final = "Vibehq-Writer"
#: The masked stream's held-back end, sealed: `<master key version>:<base64>`.
HELD_HEADER: Final = "Vibehq-Held"


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
        self,
        js: JetStreamContext,
        subjects: Subjects,
        *,
        keys: KeyWrap,
        redactor: Redactor = REDACTOR,
    ) -> None:
        self._js = js
        self._subjects = subjects
        self._keys = keys
        self._redactor = redactor
        self._locks: dict[str, asyncio.Lock] = {}

    async def write(self, session_id: str, data: str) -> TerminalOutput:
        """Publish `data` as the session's next output; returns it with its sequence."""
        async with self._locks.setdefault(session_id, asyncio.Lock()):
            seq, owner, held = await self._last(self._subjects.terminal(session_id))
            output, _ = await self._publish(session_id, seq, data, held, owner)
            return output

    async def append(
        self, session_id: str, chunk: TerminalChunk, *, actor: str, admin: bool = False
    ) -> TerminalAccepted:
        """Publish a writer's numbered chunk: the next one is published, an earlier one
        is a retry (nothing published again), a later one is refused (one is missing).
        The session's first writer owns it; another actor (but an admin) is refused.

        Several processes may take chunks for one session: each reads the session's
        last message first, and `Nats-Msg-Id` = `<session>:<seq>` lets JetStream keep
        one copy of a chunk two of them publish at once.
        """
        async with self._locks.setdefault(session_id, asyncio.Lock()):
            expected, owner, held = await self._last(self._subjects.terminal(session_id))
            if owner is not None and owner != actor and not admin:
                raise NotTheWriter(actor, session_id, owner)
            if chunk.seq < expected:
                return TerminalAccepted(session_id=session_id, seq=chunk.seq, duplicate=True)
            if chunk.seq > expected:
                raise OutOfOrder(session_id, chunk.seq, expected)
            _, duplicate = await self._publish(
                session_id, chunk.seq, chunk.data, held, owner or actor
            )
            return TerminalAccepted(session_id=session_id, seq=chunk.seq, duplicate=duplicate)

    async def _publish(
        self, session_id: str, seq: int, data: str, held: str | None, writer: str | None
    ) -> tuple[TerminalOutput, bool]:
        """Mask `data` after what the last message held back, publish it as `seq`, and
        pass on what this one holds back (sealed); whether JetStream had it already."""
        mask = self._redactor.stream(carry=self._open_held(session_id, held))
        output = TerminalOutput(
            session_id=session_id, seq=seq, data=mask.feed(data), at=datetime.now(UTC)
        )
        headers = {"Nats-Msg-Id": f"{session_id}:{seq}", SEQ_HEADER: str(seq)}
        if writer is not None:
            headers[WRITER_HEADER] = writer
        if mask.pending:
            headers[HELD_HEADER] = self._seal_held(session_id, mask.pending)
        ack = await self._js.publish(
            self._subjects.terminal(session_id), msgspec.json.encode(output), headers=headers
        )
        return output, bool(ack.duplicate)

    def _seal_held(self, session_id: str, text: str) -> str:
        version, sealed = self._keys.wrap(text.encode(), _held_aad(session_id))
        return f"{version}:{base64.b64encode(sealed).decode()}"

    def _open_held(self, session_id: str, header: str | None) -> str:
        if not header:
            return ""
        version, _, sealed = header.partition(":")
        try:
            raw = self._keys.unwrap(int(version), base64.b64decode(sealed), _held_aad(session_id))
        except (ValueError, binascii.Error, MasterKeyError, InvalidTag):
            # Its master key was retired: a few characters of the stream are lost.
            log.warning("terminal %s: the held-back output cannot be opened", session_id)
            return ""
        return raw.decode()

    async def _last(self, subject: str) -> tuple[int, str | None, str | None]:
        """The session's next sequence number, its writer (None: nobody wrote yet) and
        the sealed held-back end of its output (None: nothing held)."""
        try:
            last = await self._js.get_last_msg(self._subjects.terminal_stream, subject)
        except NotFoundError:
            return 1, None, None
        headers = last.headers or {}
        return (
            int(headers.get(SEQ_HEADER, "0")) + 1,
            headers.get(WRITER_HEADER),
            headers.get(HELD_HEADER),
        )


def _held_aad(session_id: str) -> bytes:
    return f"vibehq-terminal-held/v1\x00{session_id}".encode()
