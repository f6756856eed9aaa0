"""Terminal output of agent sessions, published straight to JetStream.

Terminal bytes are not domain facts: they are many, short-lived and only worth
keeping for a day, so they skip the event log and go to their own stream
(`<P>_TERMINAL`, max age one day). Each message carries its per-session sequence
number, which a reconnecting viewer sends back to resume without gaps or repeats;
`Nats-Msg-Id` = `<session>:<seq>` makes a retried write harmless.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Final

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from domain.contracts import TerminalOutput
from infrastructure.fanout.subjects import Subjects

SEQ_HEADER: Final = "Vibehq-Seq"


class TerminalPublisher:
    def __init__(self, js: JetStreamContext, subjects: Subjects) -> None:
        self._js = js
        self._subjects = subjects
        self._next: dict[str, int] = {}
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
                data=data,
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

    async def _last_seq(self, subject: str) -> int:
        try:
            last = await self._js.get_last_msg(self._subjects.terminal_stream, subject)
        except NotFoundError:
            return 0
        return int((last.headers or {}).get(SEQ_HEADER, "0"))
