"""`vibehq audit verify`: check every chain and signed checkpoint of the log."""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import UUID

import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from application.audit import Problem, first_of_each_kind
from application.event_codec import EventCodec, UnknownEventType
from infrastructure.audit.keys import verify_key
from infrastructure.audit.trail import TrailEntry, audit_trail
from infrastructure.audit.verify import verify_log
from infrastructure.settings import Settings
from interfaces.cli.followers import runtime_for
from interfaces.cli.inspect import CommandError
from interfaces.cli.tail import event_detail

#: Problems printed one per line before the summary.
_CODEC: Final = EventCodec()
SHOWN = 50


async def verify(
    config: Settings,
    *,
    stream: UUID | None,
    first: int | None,
    last: int | None,
    console: Console,
) -> tuple[list[Problem], int]:
    """Returns (problems, events checked)."""
    trusted = verify_key(config)
    async with runtime_for(config) as runtime:
        conn = await runtime.pool.acquire()
        try:
            head = await conn.fetchval(  # a deleted last event still has its chain link
                "SELECT greatest((SELECT coalesce(max(notification_id), 0) FROM vibehq_events),"
                " (SELECT coalesce(max(position), 0) FROM vibehq_log_chain))"
            )
            start = first or 0
            end = head if last is None else last
            if last is not None and last > head:
                raise CommandError(f"--to {last} is beyond the head of the log ({head})")
            if first is not None and first > end:
                raise CommandError(f"--from {first} is beyond --to/the head ({end})")
            if stream is not None and not await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM vibehq_events WHERE originator_id = $1)", stream
            ):
                raise CommandError(f"no stream {stream} in the log")
            total = await conn.fetchval(
                "SELECT count(*) FROM vibehq_events WHERE notification_id BETWEEN $1 AND $2 "
                "AND ($3::uuid IS NULL OR originator_id = $3)",
                start,
                end,
                stream,
            )
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
                disable=not console.is_terminal,  # no progress frames in logs
            ) as progress:
                task = progress.add_task("verifying", total=total)
                problems, events = await verify_log(
                    conn,
                    trusted_key=trusted,
                    first=start,
                    last=end,
                    stream=stream,
                    progress=lambda done: progress.update(task, completed=done),
                )
        finally:
            await runtime.pool.release(conn)
    return problems, events


def report(problems: list[Problem], events: int, console: Console) -> None:
    for problem in problems[:SHOWN]:
        console.print(
            f"position {problem.position}: [bold red]{problem.kind}[/] - {problem.detail}",
            highlight=False,
        )
    if len(problems) > SHOWN:
        console.print(f"... and {len(problems) - SHOWN} more")
    if not problems:
        console.print(f"[green]clean[/]: {events} events, every chain and checkpoint holds")
        return
    console.print(f"[bold]{len(problems)} problem(s)[/] in {events} events:")
    for kind, (first, count) in first_of_each_kind(problems).items():
        console.print(f"  {kind}: {count}, first at position {first}", highlight=False)


async def trail(
    config: Settings,
    *,
    actor: str | None,
    stream: UUID | None,
    since: datetime | None,
    limit: int,
) -> list[TrailEntry]:
    async with runtime_for(config) as runtime, runtime.pool.acquire() as conn:
        return await audit_trail(conn, actor=actor, stream=stream, since=since, limit=limit)


def _typed(entry: TrailEntry) -> object:
    try:
        return _CODEC.decode_payload(
            entry.event_type, entry.stream_id, entry.version, entry.payload
        )
    except UnknownEventType:
        return None


def show_trail(entries: list[TrailEntry], limit: int, as_json: bool, console: Console) -> None:
    if as_json:
        for entry in entries:
            print(msgspec.json.encode(entry).decode(), flush=True)
        return
    table = Table("position", "when (UTC)", "actor", "token", "event", "stream", "what")
    for entry in entries:
        used = "-"
        if entry.token_id is not None:
            used = f"{entry.token_name or '?'} ({str(entry.token_id)[:8]})"
            if entry.token_revoked:
                used += " revoked"
        table.add_row(
            str(entry.position),
            f"{entry.at:%Y-%m-%d %H:%M:%S}",
            entry.actor,
            used,
            entry.event_type,
            f"{str(entry.stream_id)[:8]} v{entry.version}",
            event_detail(_typed(entry)),
        )
    console.print(table)
    more = " (the limit; use --limit for more)" if len(entries) == limit else ""
    console.print(f"{len(entries)} event(s){more}", highlight=False)
