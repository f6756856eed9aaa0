"""`vibehq tail`: follow events, ops signals or a terminal session from JetStream.

Each resumes from a stream sequence (`--after`), a moment (`--since`) or the start
(`--all`), renders one readable line per message (or JSON with `--json`), and exits
cleanly on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final
from uuid import UUID

import msgspec
import nats
import nats.errors
import typer
from rich.console import Console
from rich.markup import escape

from application.event_codec import EventCodec, UnknownEventType
from domain.contracts import EventEnvelope
from domain.delivery import Task
from domain.ops import OpsEvent, SourceHeartbeat
from domain.workspace import Workspace
from infrastructure.fanout.connection import connect_nats, nats_access
from infrastructure.fanout.feed import Feed, FeedMessage, FellBehind
from infrastructure.fanout.subjects import Subjects
from infrastructure.fanout.terminal import SEQ_HEADER
from infrastructure.settings import Settings
from infrastructure.telemetry import consumer_span, setup_tracing
from interfaces.cli.common import WORKSPACE, fail, resolve_stream, run, run_command, settings
from interfaces.command_resources import log_connection
from interfaces.composition import open_engines

_CODEC: Final = EventCodec()
_ENVELOPE: Final = msgspec.json.Decoder(EventEnvelope)

SEVERITY_STYLE = {
    "debug": "dim",
    "info": "cyan",
    "warning": "yellow",
    "error": "bold red",
    "critical": "bold white on red",
}


class Start(msgspec.Struct, frozen=True):
    after: int | None = None
    since: datetime | None = None
    from_start: bool = False
    count: int | None = None
    as_json: bool = False


async def tail(
    config: Settings,
    nats_url: str,
    *,
    stream: str,
    subjects: list[str],
    start: Start,
    render: Any,
    skip: Any = None,
) -> int:
    """Print messages until Ctrl-C or `start.count`; returns how many were shown."""
    client = await connect_nats(nats_url, name="vibehq tail", access=nats_access(config))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    shown = 0
    feed = await Feed.open(
        client.jetstream(),
        stream=stream,
        subjects=subjects,
        after_seq=start.after if skip is None else None,
        since=start.since,
        from_start=start.from_start or skip is not None,
        limit=config.stream_buffer,
        paced=True,  # a backlog of any size is printed, at the terminal's pace
    )
    try:
        while not stop.is_set() and (start.count is None or shown < start.count):
            next_message = asyncio.ensure_future(feed.next())
            stopping = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait(
                {next_message, stopping}, return_when=asyncio.FIRST_COMPLETED
            )
            stopping.cancel()
            if next_message not in done:
                next_message.cancel()
                break
            try:
                message = next_message.result()
            except FellBehind as error:
                print(f"vibehq: {error}", file=sys.stderr)
                return shown
            if skip is not None and skip(message):
                continue
            with consumer_span("deliver tail", message.headers, _traced(message)):
                render(message)
            shown += 1
    finally:
        await feed.close()
        await client.close()
    return shown


def render_event(console: Console, as_json: bool) -> Any:
    def render(message: FeedMessage) -> None:
        if as_json:
            _print_json(message)
            return
        envelope = _ENVELOPE.decode(message.data)
        at = envelope.recorded_at.isoformat()[11:23]
        console.print(
            f"[dim]{message.seq:>6} {at}[/] [bold]{escape(envelope.type)}[/] "
            f"[dim]{str(envelope.stream_id)[:8]} v{envelope.stream_version}[/] "
            f"{escape(envelope.actor)}  {escape(_detail(envelope))}",
            highlight=False,
        )

    return render


def _print_json(message: FeedMessage) -> None:
    line = msgspec.json.encode({"seq": message.seq, "event": msgspec.json.decode(message.data)})
    print(line.decode(), flush=True)


def _detail(envelope: EventEnvelope) -> str:
    omitted = envelope.payload_omitted
    if omitted is not None:
        return f"payload omitted ({omitted.size:,} bytes, over NATS's limit): {omitted.fetch}"
    return event_detail(_typed(envelope))


def _typed(envelope: EventEnvelope) -> object:
    try:
        return _CODEC.decode_envelope(envelope)
    except UnknownEventType:
        return None  # a newer writer's event: its type is shown, --json shows the rest


def event_detail(event: object) -> str:
    """One line on what a typed event says, or "" when its type says it all."""
    if isinstance(event, Workspace.PatchApplied | Workspace.PatchReverted):
        added = sum(c.lines_added for c in event.changes)
        removed = sum(c.lines_removed for c in event.changes)
        who = f"task {event.task_id} by {event.author}"
        return f"{who}: {len(event.changes)} file(s) +{added} -{removed}"
    if isinstance(event, Workspace.PatchRejected):
        who = f"task {event.task_id} by {event.author}"
        return f"{who}: {event.reason} ({event.path or '-'})"
    if isinstance(event, OpsEvent.Reported):
        return f"{event.severity} {event.source}/{event.kind}: {event.message}"
    if isinstance(event, Task.Delivered):
        who = f"task {event.task_id} delivered by {event.factory}"
        return f"{who} at v{event.final_version}"
    if isinstance(event, Task.ChecksReported):
        verdicts = ", ".join(f"{c.name}={c.status}" for c in event.checks)
        return f"task {event.task_id} by {event.factory}: {verdicts}"
    return ""


def render_ops(console: Console, as_json: bool) -> Any:
    def render(message: FeedMessage) -> None:
        if as_json:
            _print_json(message)
            return
        envelope = _ENVELOPE.decode(message.data)
        at = envelope.recorded_at.isoformat()[11:23]
        event = _typed(envelope)
        if isinstance(event, SourceHeartbeat.Beat):
            console.print(
                f"[dim]{message.seq:>6} {at}[/] [green]♥[/] {escape(event.source)} "
                f"{event.status} (every {event.interval_seconds:g}s)",
                highlight=False,
            )
        elif isinstance(event, OpsEvent.Reported):
            severity = event.severity
            console.print(
                f"[dim]{message.seq:>6} {at}[/] [{SEVERITY_STYLE[severity]}]"
                f"{severity.upper():8}[/] {escape(event.source)}/{escape(event.kind)}: "
                f"{escape(event.message)}",
                highlight=False,
            )

    return render


def render_terminal(as_json: bool) -> Any:
    def render(message: FeedMessage) -> None:
        if as_json:
            print(message.data.decode(), flush=True)
            return
        sys.stdout.write(msgspec.json.decode(message.data)["data"])
        sys.stdout.flush()

    return render


def after_session_seq(after: int | None) -> Any:
    """Terminal resume is by the session's own sequence numbers."""

    def skip(message: FeedMessage) -> bool:
        return after is not None and int(message.headers.get(SEQ_HEADER, "0")) <= after

    return skip


def event_subjects(subjects: Subjects, workspace: str | None, event_type: str | None) -> list[str]:
    aggregate, _, name = (event_type or "").rpartition(".")
    if event_type and not aggregate:
        aggregate, name = "", event_type
    if workspace:
        aggregate = aggregate or WORKSPACE
    return [subjects.events(aggregate=aggregate or None, stream_id=workspace, event=name or None)]


# -- the commands --------------------------------------------------------------------------

tail_app = typer.Typer(
    help=(
        "Follow the live feeds from NATS JetStream: events, ops signals, terminal "
        "sessions. By default only what arrives from now on; `--after SEQ` resumes after "
        "a sequence number shown in the first column, `--since` from a moment, `--all` "
        "from the start. Ctrl-C stops."
    ),
    no_args_is_help=True,
)

After = Annotated[
    int | None, typer.Option("--after", help="Resume after this sequence number.", min=0)
]
Since = Annotated[
    datetime | None,
    typer.Option(
        help="Start at this moment (ISO 8601).",
        formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
    ),
]
FromStart = Annotated[bool, typer.Option("--all", help="Start from the oldest retained message.")]
Count = Annotated[int | None, typer.Option(help="Exit after this many messages.", min=1)]
AsJson = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]


class SeverityChoice(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"
    critical = "critical"
    heartbeat = "heartbeat"


@tail_app.command("events")
def tail_events(
    workspace: Annotated[
        str | None, typer.Option(help="Only this workspace's events (its id, or its start).")
    ] = None,
    event_type: Annotated[
        str | None,
        typer.Option("--type", help="Only this type, e.g. `PatchApplied` or `Task.Delivered`."),
    ] = None,
    after: After = None,
    since: Since = None,
    from_start: FromStart = False,
    count: Count = None,
    as_json: AsJson = False,
) -> None:
    """Follow domain events: patches, tasks, incidents (ops signals: `tail ops`)."""
    config = settings()
    subjects = Subjects(config.nats_prefix)
    if workspace is not None:
        workspace = str(run_command(lambda: _workspace(config, workspace or "")))
    _follow(
        config,
        stream=subjects.events_stream,
        subjects=event_subjects(subjects, workspace, event_type),
        start=Start(after, _aware(since), from_start, count, as_json),
        render=render_event(Console(soft_wrap=True), as_json),
    )


@tail_app.command("ops")
def tail_ops(
    severity: Annotated[
        SeverityChoice | None, typer.Option(help="Only this severity (or `heartbeat`).")
    ] = None,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    after: After = None,
    since: Since = None,
    from_start: FromStart = False,
    count: Count = None,
    as_json: AsJson = False,
) -> None:
    """Follow ops events and heartbeats as they are recorded."""
    config = settings()
    subjects = Subjects(config.nats_prefix)
    _follow(
        config,
        stream=subjects.events_stream,
        subjects=[subjects.ops(severity.value if severity else None, source)],
        start=Start(after, _aware(since), from_start, count, as_json),
        render=render_ops(Console(soft_wrap=True), as_json),
    )


@tail_app.command("terminal")
def tail_terminal(
    session: Annotated[str, typer.Argument(help="The agent session's id.")],
    after: Annotated[
        int | None,
        typer.Option("--after", help="Resume after this session sequence number.", min=0),
    ] = None,
    count: Count = None,
    as_json: AsJson = False,
) -> None:
    """Replay and follow one agent session's terminal output, byte for byte."""
    config = settings()
    subjects = Subjects(config.nats_prefix)
    _follow(
        config,
        stream=subjects.terminal_stream,
        subjects=[subjects.terminal(session)],
        start=Start(count=count, as_json=as_json),
        render=render_terminal(as_json),
        skip=after_session_seq(after),
    )


async def _workspace(config: Settings, text: str) -> UUID:
    async with log_connection(config) as conn:
        return await resolve_stream(
            conn, text, what="workspace", stream_type=WORKSPACE, option="--workspace"
        )


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _traced(message: FeedMessage) -> dict[str, str | int]:
    return {
        "messaging.system": "nats",
        "messaging.operation.type": "process",
        "messaging.destination.name": message.subject,
    }


def _follow(config: Settings, **kwargs: Any) -> None:
    async def go() -> int:
        # With tracing on, each event shown continues the trace of the request behind it.
        provider = setup_tracing(
            config.tracing, service_name="vibehq-tail", otlp_endpoint=config.otlp_endpoint
        )
        engines = await open_engines(config)
        try:
            return await tail(config, engines.nats_url, **kwargs)
        finally:
            await asyncio.to_thread(engines.stop)
            if provider is not None:
                provider.shutdown()  # sends what is left

    try:
        run(go)
    except nats.errors.Error as error:
        fail(f"NATS: {error}")
