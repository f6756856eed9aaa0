"""How a feed reaches one client: a pump per WebSocket or SSE response.

Each client reads from its own bounded `Feed`. A client that falls behind (its
buffer fills, or it stops reading) gets a `lagged` message naming its last `seq` and
is let go (WebSocket close code 4008), so a slow client never slows anyone else. A
connection also ends when its token stops being valid (`still_allowed` says so).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import msgspec
from litestar import WebSocket
from litestar.exceptions import WebSocketDisconnect
from litestar.response import ServerSentEventMessage

from domain.contracts import FeedLagged
from infrastructure.fanout.feed import Feed, FeedMessage, FellBehind
from infrastructure.fanout.terminal import SEQ_HEADER
from infrastructure.metrics import metrics
from infrastructure.telemetry import consumer_span
from interfaces.http.ws_close import FELL_BEHIND, TOKEN_INVALID, short_reason

SEND_TIMEOUT: Final = 1.0
#: Seconds between checks that an open connection's token is still valid (each check
#: may be answered from the token cache, so a revocation ends it within ~6 s).
REVALIDATE_EVERY: Final = 1.0

#: Is the token that opened this connection still valid?
StillAllowed = Callable[[], Awaitable[bool]]


class FeedEnded(Exception):
    """Raised by a `Convert` to end the connection (e.g. the reader's grant was revoked):
    a WebSocket closes with `code`, an SSE stream ends with an event named `event`."""

    def __init__(self, code: int, event: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.event = event
        self.reason = reason


#: A feed message as the bytes a client gets, or None to skip it.
Convert = Callable[[FeedMessage], Awaitable[bytes | None]]


async def serve_socket(
    socket: WebSocket[Any, Any, Any],
    feed: Feed,
    convert: Convert,
    on_receive: Callable[[str], Awaitable[None]] | None = None,
    still_allowed: StillAllowed | None = None,
) -> None:
    pump = asyncio.create_task(_pump(socket, feed, convert))
    listen = asyncio.create_task(_listen(socket, on_receive))
    watch = asyncio.create_task(_until_revoked(still_allowed))
    clients = metrics().feed_clients.labels("websocket")
    clients.inc()
    try:
        done, _ = await asyncio.wait({pump, listen, watch}, return_when=asyncio.FIRST_COMPLETED)
        if watch in done:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    socket.close(code=TOKEN_INVALID, reason="token revoked"), SEND_TIMEOUT
                )
    finally:
        for task in (pump, listen, watch):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await feed.close()
        clients.dec()
        with contextlib.suppress(Exception):
            await socket.close()


async def _until_revoked(still_allowed: StillAllowed | None) -> None:
    """Return once the connection's token is no longer valid (never without a token)."""
    if still_allowed is None:
        await asyncio.Event().wait()
        return
    while True:
        await asyncio.sleep(REVALIDATE_EVERY)
        if not await still_allowed():
            return


async def _pump(socket: WebSocket[Any, Any, Any], feed: Feed, convert: Convert) -> None:
    last_seq = 0
    while True:
        try:
            message = await feed.next()
        except FellBehind as behind:
            await _lagged(socket, behind.limit, last_seq)
            return
        try:
            data = await convert(message)
        except FeedEnded as end:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    socket.close(code=end.code, reason=short_reason(end.reason)), SEND_TIMEOUT
                )
            return
        if data is None:
            continue
        send = asyncio.ensure_future(socket.send_data(data.decode(), mode="text"))
        overflow = asyncio.ensure_future(feed.overflowed.wait())
        try:
            with consumer_span("deliver websocket", message.headers, _traced(message, "ws")):
                done, _ = await asyncio.wait({send, overflow}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled (the client left): leave no task behind
            send.cancel()
            raise
        finally:
            overflow.cancel()
        if send not in done:  # the client stopped reading while its buffer filled up
            send.cancel()
            await _lagged(socket, feed.limit, last_seq)
            return
        send.result()
        last_seq = _seq_of(message)


def _traced(message: FeedMessage, protocol: str) -> dict[str, str | int]:
    """What a delivery span says (OTel's messaging conventions)."""
    return {
        "messaging.system": "nats",
        "messaging.operation.type": "process",
        "messaging.destination.name": message.subject,
        "messaging.message.id": message.headers.get("Nats-Msg-Id", ""),
        "network.protocol.name": protocol,
    }


def _seq_of(message: FeedMessage) -> int:
    return int(message.headers.get(SEQ_HEADER, message.seq))


async def _lagged(socket: WebSocket[Any, Any, Any], limit: int, last_seq: int) -> None:
    metrics().feeds_dropped.labels("websocket").inc()
    notice = FeedLagged(
        last_seq=last_seq,
        limit=limit,
        message=f"fell more than {limit} messages behind; reconnect with after={last_seq}",
    )
    with contextlib.suppress(Exception):
        await asyncio.wait_for(
            socket.send_data(msgspec.json.encode(notice).decode(), mode="text"), SEND_TIMEOUT
        )
    with contextlib.suppress(Exception):
        await asyncio.wait_for(
            socket.close(code=FELL_BEHIND, reason=f"fell behind; after={last_seq}"),
            SEND_TIMEOUT,
        )


async def _listen(
    socket: WebSocket[Any, Any, Any], on_receive: Callable[[str], Awaitable[None]] | None
) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            text = await socket.receive_data(mode="text")
            if on_receive is not None:
                await on_receive(text)


async def sse_messages(
    feed: Feed, convert: Convert, still_allowed: StillAllowed | None = None
) -> AsyncIterator[ServerSentEventMessage]:
    """The feed as SSE messages, until the client lags, leaves or loses its token."""
    last_seq = 0
    watch = asyncio.create_task(_until_revoked(still_allowed))
    clients = metrics().feed_clients.labels("sse")
    clients.inc()
    try:
        while True:
            try:
                message = await _next_unless(feed, watch)
                data = await convert(message)
            except FeedEnded as end:  # the token or the reader's grant was revoked
                yield ServerSentEventMessage(data=end.reason, event=end.event)
                return
            except FellBehind as behind:
                metrics().feeds_dropped.labels("sse").inc()
                notice = FeedLagged(
                    last_seq=last_seq,
                    limit=behind.limit,
                    message=f"fell behind; reconnect with Last-Event-ID: {last_seq}",
                )
                yield ServerSentEventMessage(
                    data=msgspec.json.encode(notice).decode(), event="lagged", id=str(last_seq)
                )
                return
            if data is None:
                continue
            last_seq = message.seq
            kind = msgspec.json.decode(data)["kind"]
            with consumer_span("deliver sse", message.headers, _traced(message, "sse")):
                yield ServerSentEventMessage(data=data.decode(), event=kind, id=str(message.seq))
    finally:
        clients.dec()
        watch.cancel()
        await feed.close()


async def _next_unless(feed: Feed, watch: asyncio.Task[None]) -> FeedMessage:
    """The feed's next message, or `FeedEnded` once `watch` (the token's) ends first."""
    getter = asyncio.ensure_future(feed.next())
    try:
        await asyncio.wait({getter, watch}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        getter.cancel()
        raise
    if not getter.done():
        getter.cancel()
        raise FeedEnded(TOKEN_INVALID, "revoked", "token revoked")
    return getter.result()
