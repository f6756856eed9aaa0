"""`vibehq tail`: follow events, ops signals or a terminal session from JetStream.

Each resumes from a stream sequence (`--after`), a moment (`--since`) or the start
(`--all`), renders one readable line per message (or JSON with `--json`), and exits
cleanly on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import datetime
from typing import Any

import msgspec
import nats
from rich.console import Console
from rich.markup import escape

from infrastructure.fanout.feed import Feed, FeedMessage, FellBehind
from infrastructure.fanout.subjects import Subjects
from infrastructure.fanout.terminal import SEQ_HEADER
from infrastructure.settings import Settings

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
    client = await nats.connect(nats_url, name="vibehq tail")
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
        envelope = msgspec.json.decode(message.data)
        payload = envelope["payload"]
        at = envelope["recorded_at"][11:23]
        detail = event_detail(envelope["type"], payload)
        console.print(
            f"[dim]{message.seq:>6} {at}[/] [bold]{escape(envelope['type'])}[/] "
            f"[dim]{envelope['stream_id'][:8]} v{envelope['stream_version']}[/] "
            f"{escape(envelope['actor'])}  {escape(detail)}",
            highlight=False,
        )

    return render


def _print_json(message: FeedMessage) -> None:
    line = msgspec.json.encode({"seq": message.seq, "event": msgspec.json.decode(message.data)})
    print(line.decode(), flush=True)


def event_detail(event_type: str, payload: dict[str, Any]) -> str:
    if event_type in ("Workspace.PatchApplied", "Workspace.PatchReverted"):
        changes = payload.get("changes", [])
        added = sum(c["lines_added"] for c in changes)
        removed = sum(c["lines_removed"] for c in changes)
        who = f"task {payload['task_id']} by {payload['author']}"
        return f"{who}: {len(changes)} file(s) +{added} -{removed}"
    if event_type == "Workspace.PatchRejected":
        who = f"task {payload['task_id']} by {payload['author']}"
        return f"{who}: {payload['reason']} ({payload.get('path') or '-'})"
    if event_type == "OpsEvent.Reported":
        return f"{payload['severity']} {payload['source']}/{payload['kind']}: {payload['message']}"
    if event_type == "Task.Delivered":
        who = f"task {payload['task_id']} delivered by {payload['factory']}"
        return f"{who} at v{payload['final_version']}"
    if event_type == "Task.ChecksReported":
        verdicts = ", ".join(f"{c['name']}={c['status']}" for c in payload["checks"])
        return f"task {payload['task_id']} by {payload['factory']}: {verdicts}"
    return ""


def render_ops(console: Console, as_json: bool) -> Any:
    def render(message: FeedMessage) -> None:
        if as_json:
            _print_json(message)
            return
        envelope = msgspec.json.decode(message.data)
        payload = envelope["payload"]
        at = envelope["recorded_at"][11:23]
        if envelope["type"] == "SourceHeartbeat.Beat":
            console.print(
                f"[dim]{message.seq:>6} {at}[/] [green]♥[/] {escape(payload['source'])} "
                f"{payload['status']} (every {payload['interval_seconds']:g}s)",
                highlight=False,
            )
            return
        severity = payload["severity"]
        console.print(
            f"[dim]{message.seq:>6} {at}[/] [{SEVERITY_STYLE[severity]}]{severity.upper():8}[/] "
            f"{escape(payload['source'])}/{escape(payload['kind'])}: {escape(payload['message'])}",
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
        aggregate = aggregate or "Workspace"
    return [subjects.events(aggregate=aggregate or None, stream_id=workspace, event=name or None)]
