"""Live feeds for browsers: WebSocket and Server-Sent Events over JetStream.

* `/ws/workspaces/{id}`, `/sse/workspaces/{id}`: patch notifications of a workspace;
* `/ws/ops`, `/sse/ops`: ops alerts, heartbeats and incident steps;
* `/ws/terminal/{session}`: an agent's terminal output (xterm.js: write `data`), and
  keystrokes/resizes sent back as `terminal_input` / `terminal_resize` messages.

Every message carries `seq`. Reconnect with `?after=<seq>` (SSE: `Last-Event-ID`) to
get exactly what was missed. For workspace and ops feeds `seq` is the JetStream
sequence; for a terminal it is the session's own sequence number. Each client has a
bounded buffer (`VIBEHQ_STREAM_BUFFER`): one that falls further behind gets a
`lagged` message naming its last `seq` and is disconnected (close code 4008),
so a slow client never slows anyone else. Browsers cannot set headers on these
requests, so the token may also come as `?token=`. A connection ends within seconds
of its token's revocation (WebSocket close code 4001; SSE: a `revoked` event).

Reading a terminal needs the `read` scope; typing into it or resizing it needs
`write`, and every keystroke message carries the actor of the token that sent it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from uuid import UUID

import msgspec
from litestar import Request, WebSocket, get, websocket
from litestar.exceptions import WebSocketException
from litestar.params import FromPath, HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent

from application.access import Principal
from application.event_codec import EventCodec, event_type
from application.feeds import LiveUpdate, ops_message, patch_notification, whole_envelope
from application.read_models import OpsViews
from domain.contracts import (
    MAX_COUNTER,
    EventEnvelope,
    HealthChanged,
    Identifier,
    TerminalInput,
)
from domain.decoding import ContractViolation, convert, decode_terminal_control
from domain.errors import Forbidden, NotFound
from domain.workspace import Workspace
from infrastructure.fanout.feed import Feed, FeedMessage
from infrastructure.fanout.relay import TYPE_HEADER
from infrastructure.fanout.terminal import SEQ_HEADER
from interfaces.composition import LiveFeeds
from interfaces.http.auth import requires, still_allowed
from interfaces.http.dependencies import live_feeds, services_of
from interfaces.http.feed_pump import Convert, FeedEnded, serve_socket, sse_messages
from interfaces.http.ownership import MAY_READ
from interfaces.http.params import command_context, counter
from interfaces.http.ws_close import FORBIDDEN, UNKNOWN_STREAM

log = logging.getLogger(__name__)

_CODEC: Final = EventCodec()
_REVOKED: Final = event_type(Workspace.AccessRevoked)

#: Seconds between health checks on /ws/ops, and the pause after an ops message.
HEALTH_EVERY: Final = 5.0
HEALTH_SETTLE: Final = 0.3

AFTER = QueryParameter(
    name="after",
    ge=0,
    le=MAX_COUNTER,
    required=False,
    description="Resume after this `seq` (the last one you received).",
)


def _feeds(connection: Request[Any, Any, Any] | WebSocket[Any, Any, Any]) -> LiveFeeds:
    return live_feeds(services_of(connection.app.state))


def _envelope_feed(
    feeds: LiveFeeds, to_message: Callable[[EventEnvelope, int], LiveUpdate | None]
) -> Convert:
    async def convert(message: FeedMessage) -> bytes | None:
        envelope = msgspec.json.decode(message.data, type=EventEnvelope)
        if envelope.payload_omitted is not None:  # too large for NATS: read it from the log
            envelope = await whole_envelope(envelope, feeds.log)
        out = to_message(envelope, message.seq)
        return msgspec.json.encode(out) if out is not None else None

    return convert


def _unless_revoked(convert: Convert, viewer: Principal) -> Convert:
    """A workspace feed that ends (4003; SSE: `revoked`) when the workspace revokes the
    viewer's grant: the revocation is itself an event on the feed, so it costs nothing."""
    if viewer.may("admin"):
        return convert

    async def guarded(message: FeedMessage) -> bytes | None:
        if message.headers.get(TYPE_HEADER) == _REVOKED:
            event = _CODEC.decode_envelope(msgspec.json.decode(message.data, type=EventEnvelope))
            if isinstance(event, Workspace.AccessRevoked) and event.actor == viewer.actor:
                raise FeedEnded(FORBIDDEN, "revoked", f"{event.by} revoked {viewer.actor}'s grant")
        return await convert(message)

    return guarded


def _terminal_feed(after: int | None) -> Convert:
    async def convert(message: FeedMessage) -> bytes | None:
        seq = int(message.headers.get(SEQ_HEADER, "0"))
        return None if after is not None and seq <= after else message.data

    return convert


async def _open(
    feeds: LiveFeeds, stream: str, subjects: list[str], after_seq: int | None, replay: bool
) -> Feed:
    return await Feed.open(
        feeds.js,
        stream=stream,
        subjects=subjects,
        after_seq=after_seq,
        from_start=replay,
        limit=feeds.buffer,
    )


@websocket("/ws/workspaces/{workspace_id:str}", guards=[requires("read")])
async def workspace_socket(
    socket: WebSocket[Any, Any, Any],
    workspace_id: FromPath[str],
    after: Annotated[int | None, AFTER] = None,
) -> None:
    """Patch notifications of one workspace."""
    feeds = _feeds(socket)
    access = services_of(socket.app.state).access
    try:
        await access.check(UUID(workspace_id), command_context(socket, None), "read")
    except (ValueError, NotFound):
        raise WebSocketException(
            detail=f"no workspace {workspace_id}", code=UNKNOWN_STREAM
        ) from None
    except Forbidden as refusal:
        raise WebSocketException(detail=str(refusal), code=FORBIDDEN) from None
    await socket.accept()
    subjects = feeds.subjects
    feed = await _open(
        feeds, subjects.events_stream, [subjects.workspace(str(workspace_id))], after, False
    )
    convert = _unless_revoked(_envelope_feed(feeds, patch_notification), socket.user)
    await serve_socket(socket, feed, convert, still_allowed=still_allowed(socket))


@websocket("/ws/ops", guards=[requires("read")])
async def ops_socket(
    socket: WebSocket[Any, Any, Any], after: Annotated[int | None, AFTER] = None
) -> None:
    """Ops alerts, heartbeats and incident steps."""
    feeds = _feeds(socket)
    await socket.accept()
    subjects = feeds.subjects
    feed = await _open(
        feeds, subjects.events_stream, [subjects.ops(), subjects.incidents()], after, False
    )
    ops_views = services_of(socket.app.state).ops_views
    watcher = asyncio.create_task(_watch_health(socket, ops_views, feed))
    try:
        await serve_socket(
            socket, feed, _envelope_feed(feeds, ops_message), still_allowed=still_allowed(socket)
        )
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher


async def _watch_health(socket: WebSocket[Any, Any, Any], ops_views: OpsViews, feed: Feed) -> None:
    """Send `health` messages when a source's derived health changes.

    Health depends on the clock (heartbeats go stale by themselves), so it is derived
    from the ops model every few seconds, and soon after each ops message.
    """
    known: dict[str, str] = {}
    while True:
        overview = await ops_views.overview(datetime.now(UTC))
        for source in overview.sources:
            if known.get(source.source) != source.health:
                known[source.source] = source.health
                change = HealthChanged(
                    source=source.source,
                    health=source.health,
                    reason=source.reason,
                    at=overview.generated_at,
                )
                await socket.send_data(msgspec.json.encode(change).decode(), mode="text")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(feed.activity.wait(), HEALTH_EVERY)
            feed.activity.clear()
            await asyncio.sleep(HEALTH_SETTLE)  # let the ops projection fold it first


@websocket("/ws/terminal/{session_id:str}", guards=[requires("read")])
async def terminal_socket(
    socket: WebSocket[Any, Any, Any],
    session_id: FromPath[str],
    after: Annotated[int | None, AFTER] = None,
) -> None:
    """An agent session's terminal: output out, keystrokes and resizes in."""
    feeds = _feeds(socket)
    try:
        convert(session_id, Identifier)
    except ContractViolation:
        detail = f"{session_id!r} is not a session id"
        raise WebSocketException(detail=detail, code=UNKNOWN_STREAM) from None
    await socket.accept()
    subjects = feeds.subjects
    # Session sequence numbers are ours, not JetStream's: replay the session, skip seen.
    feed = await _open(feeds, subjects.terminal_stream, [subjects.terminal(session_id)], None, True)

    principal: Principal = socket.user

    async def forward(text: str) -> None:
        try:
            message = decode_terminal_control(text)
        except ContractViolation as error:
            await socket.send_json({"kind": "error", "field": error.field, "detail": str(error)})
            return
        if not principal.may("write"):
            detail = (
                f"typing into or resizing a terminal needs the 'write' scope; the token of "
                f"{principal.actor} may only watch"
            )
            await socket.send_json({"kind": "error", "field": "kind", "detail": detail})
            return
        if message.session_id != session_id:
            detail = f"this socket is session {session_id}"
            await socket.send_json({"kind": "error", "field": "session_id", "detail": detail})
            return
        if isinstance(message, TerminalInput):
            message = msgspec.structs.replace(message, actor=principal.actor)
        channel = "input" if isinstance(message, TerminalInput) else "resize"
        subject = subjects.terminal(session_id, channel)
        await feeds.js.publish(subject, msgspec.json.encode(message))

    await serve_socket(
        socket, feed, _terminal_feed(after), forward, still_allowed=still_allowed(socket)
    )


# -- Server-Sent Events -------------------------------------------------------------------

LAST_EVENT_ID = HeaderParameter(
    name="Last-Event-ID", required=False, description="Sent by browsers on reconnect."
)


def _resume_from(after: int | None, last_event_id: str | None) -> int | None:
    if after is not None:
        return after
    if last_event_id:
        if not counter(last_event_id):
            raise ContractViolation("Last-Event-ID", f"{last_event_id!r} is not a sequence number")
        return int(last_event_id)
    return None


@get(
    "/sse/workspaces/{workspace_id:uuid}",
    guards=[requires("read"), MAY_READ],
    tags=["feeds"],
    summary="Patch notifications of a workspace as Server-Sent Events",
)
async def workspace_events(
    request: Request[Any, Any, Any],
    workspace_id: FromPath[UUID],
    after: Annotated[int | None, AFTER] = None,
    last_event_id: Annotated[str | None, LAST_EVENT_ID] = None,
) -> ServerSentEvent:
    feeds = _feeds(request)
    subjects = feeds.subjects
    feed = await _open(
        feeds,
        subjects.events_stream,
        [subjects.workspace(str(workspace_id))],
        _resume_from(after, last_event_id),
        False,
    )
    convert = _unless_revoked(_envelope_feed(feeds, patch_notification), request.user)
    return ServerSentEvent(sse_messages(feed, convert, still_allowed(request)))


@get(
    "/sse/ops",
    guards=[requires("read")],
    tags=["feeds"],
    summary="Ops alerts, heartbeats and incident steps as Server-Sent Events",
)
async def ops_events(
    request: Request[Any, Any, Any],
    after: Annotated[int | None, AFTER] = None,
    last_event_id: Annotated[str | None, LAST_EVENT_ID] = None,
) -> ServerSentEvent:
    feeds = _feeds(request)
    subjects = feeds.subjects
    feed = await _open(
        feeds,
        subjects.events_stream,
        [subjects.ops(), subjects.incidents()],
        _resume_from(after, last_event_id),
        False,
    )
    return ServerSentEvent(
        sse_messages(feed, _envelope_feed(feeds, ops_message), still_allowed(request))
    )


STREAM_HANDLERS: Final = [
    workspace_socket,
    ops_socket,
    terminal_socket,
    workspace_events,
    ops_events,
]
