"""WebSocket close codes, and a socket refused with one instead of a bare HTTP 403.

Under ASGI, a socket closed before it is accepted becomes an HTTP 403 at the
handshake, and a browser's WebSocket sees only 1006: it cannot tell a bad token from
a missing scope or a stream that does not exist. The app accepts such a
socket first and then closes it with the code the app chose, so a client learns why
(`ExplainedRefusals`, the app's class).
"""

from __future__ import annotations

from typing import Any, Final

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import Message, Send

#: The token is missing, unknown or expired, or was revoked while the socket was open.
TOKEN_INVALID: Final = 4001
#: The token is valid but lacks the scope this feed needs.
FORBIDDEN: Final = 4003
#: The feed names a workspace or session that does not exist (or is not a valid name).
UNKNOWN_STREAM: Final = 4004
#: The client fell behind; reconnect with `after=<seq>`.
FELL_BEHIND: Final = 4008
#: A close frame's reason may hold at most 123 bytes.
MAX_REASON_BYTES: Final = 123


def short_reason(reason: str) -> str:
    data = reason.encode()
    if len(data) <= MAX_REASON_BYTES:
        return reason
    return data[: MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


def accept_before_close(send: Send) -> Send:
    """`send`, except that a close before `accept` is preceded by an accept (and a close
    reason is cut to what a frame holds)."""
    accepted = False

    async def send_accepting(message: Message) -> None:
        nonlocal accepted
        if message["type"] == "websocket.accept":
            accepted = True
        elif message["type"] == "websocket.close":
            if not accepted:
                accepted = True
                await send({"type": "websocket.accept", "subprotocol": None, "headers": []})
            message = {**message, "reason": short_reason(message.get("reason") or "")}
        await send(message)

    return send_accepting


class ExplainedRefusals(Litestar):
    """The app, with WebSocket refusals sent as close codes (Litestar's own exception
    handling sends its close on the `send` it was given, so the wrapping starts here)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == ScopeType.WEBSOCKET:
            send = accept_before_close(send)
        await super().__call__(scope, receive, send)
