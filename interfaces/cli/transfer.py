"""`vibehq events show|export|import`: one event, or the log as JSON Lines out and in."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.console import Console

from application.event_codec import to_envelope
from infrastructure.audit.importer import (
    CHECKPOINT_LINES,
    Imported,
    ImportRefused,
    import_lines,
)
from infrastructure.event_store.log_queries import count_events, log_head, position_at
from infrastructure.event_store.log_queries import stream_exists as has_stream
from infrastructure.pool import DbConnection
from infrastructure.settings import Settings
from interfaces.cli.common import (
    CommandError,
    fail,
    progress_bar,
    resolve_stream,
    run,
    run_command,
    runtime_for,
    settings,
)
from interfaces.cli.compressed import reading
from interfaces.cli.export_file import (
    CHECKPOINT_EVENTS,
    ExportStopped,
    Options,
    unfinished,
    write_export,
)

events_app = typer.Typer(
    help="One event whole, or the event log as JSON Lines (with hashes, blobs, chain and "
    "signatures).",
    no_args_is_help=True,
)


async def export(
    config: Settings,
    out: Path,
    *,
    stream_text: str | None,
    first: int | None,
    to: str | None,
    every: int,
    console: Console,
) -> int:
    """Write the export to `out` (under a temporary name, renamed when complete), going
    on from the checkpoint an earlier run of the same options left (export_file.py)."""
    async with runtime_for(config) as runtime, runtime.pool.acquire() as conn:
        stream = None if stream_text is None else await resolve_stream(conn, stream_text)
        if stream is not None and not await has_stream(conn, stream):
            raise CommandError(f"no stream {stream} in the log")
        options = Options(stream, first or 0, to)
        resumed = unfinished(out, options)
        last = resumed.last if resumed else await _position(conn, to, await log_head(conn))
        total = await count_events(conn, first=options.first, last=last, stream=stream)
        if resumed is not None:
            console.print(
                f"going on from the {resumed.events:,} events an earlier run wrote "
                f"(to position {resumed.position})"
            )
        with progress_bar(console, f"exporting to {out}", total, unit="events") as update:
            return await write_export(
                conn, out, options, last=last, resumed=resumed, every=every, update=update
            )


async def _position(conn: DbConnection, to: str | None, head: int) -> int:
    if to is None:
        return head
    if to.isdigit():
        if int(to) > head:
            raise CommandError(f"--to {to} is beyond the head of the log ({head})")
        return int(to)
    try:
        moment = datetime.fromisoformat(to.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"--to {to!r} is neither a position nor an ISO 8601 moment") from None
    return await position_at(conn, moment)


def _numbered_lines(path: Path, update: Callable[[int], None]) -> Iterator[tuple[int, bytes]]:
    with reading(path) as (lines, beneath):
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield number, line
            update(beneath.tell())


def readable_size(path: Path) -> int:
    """The file's size, or CommandError saying why it cannot be read."""
    if not path.is_file():
        raise CommandError(f"cannot read {path}: no such file")
    try:
        with path.open("rb") as probe:
            probe.read(1)
        return path.stat().st_size
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror}") from None


def file_identity(path: Path, size: int) -> bytes:
    """What tells this file from another: its size and its first MiB, hashed."""
    with path.open("rb") as handle:
        return hashlib.sha256(f"{size}:".encode() + handle.read(1 << 20)).digest()


async def import_file(
    config: Settings, path: Path, size: int, console: Console, every: int = CHECKPOINT_LINES
) -> Imported:
    identity = file_identity(path, size)
    async with runtime_for(config) as runtime, runtime.pool.acquire() as conn:
        with progress_bar(console, f"importing {path}", size, unit="bytes") as update:
            try:
                return await import_lines(
                    conn,
                    _numbered_lines(path, update),
                    source=str(path),
                    identity=identity,
                    every=every,
                )
            except ImportRefused as error:
                raise CommandError(str(error)) from None


async def _show(config: Settings, position: int) -> bytes:
    async with runtime_for(config) as runtime:
        found = await runtime.store.read_log(after_position=position - 1, limit=1)
    if not found or found[0].position != position:
        raise CommandError(f"no event at position {position}")
    return msgspec.json.format(msgspec.json.encode(to_envelope(found[0])), indent=2)


@events_app.command("show")
def events_show(
    position: Annotated[int, typer.Argument(help="The event's log position.", min=1)],
) -> None:
    """Print one event whole, as JSON: its envelope and payload.

    This is how to read an event that the NATS feeds carry without its payload
    (`payload_omitted`: it was larger than the broker accepts).
    """
    config = settings()
    text = run_command(lambda: _show(config, position))
    typer.echo(text.decode())


@events_app.command("export")
def events_export(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="File to write (JSON Lines); a name ending .gz or .zst compresses it.",
        ),
    ],
    stream: Annotated[
        str | None, typer.Option(help="Only this stream: an aggregate id, or its start.")
    ] = None,
    from_position: Annotated[
        int | None, typer.Option("--from", help="First log position.", min=0)
    ] = None,
    to: Annotated[
        str | None, typer.Option(help="Last log position, or an ISO 8601 moment.")
    ] = None,
    checkpoint_events: Annotated[
        int,
        typer.Option(
            min=1,
            help="Events between checkpoints: a run cut short keeps them in OUT.partial, "
            "and the same command goes on from the last one.",
        ),
    ] = CHECKPOINT_EVENTS,
) -> None:
    """Export events (and the blobs they refer to) as JSON Lines.

    A full export (no filters) also carries the global chain and its signed
    checkpoints, so an import can be verified with `vibehq audit verify`. The file
    appears only when complete. Until then it is OUT.partial, sealed every
    --checkpoint-events events: a run cut short (Ctrl-C, a lost connection) keeps
    what it sealed, and running the same command again goes on from there.
    """
    config = settings()
    try:
        written = run_command(
            lambda: export(
                config,
                out,
                stream_text=stream,
                first=from_position,
                to=to,
                every=checkpoint_events,
                console=Console(stderr=True),
            )
        )
    except ExportStopped as stopped:
        fail(str(stopped))
    typer.echo(f"exported {written} events to {out}")


@events_app.command("import")
def events_import(
    file: Annotated[
        Path,
        typer.Argument(help="A file written by `vibehq events export` (.gz, .zst or plain)."),
    ],
    checkpoint_lines: Annotated[
        int,
        typer.Option(help="Lines committed together: the most a cut run has to do again.", min=1),
    ] = CHECKPOINT_LINES,
) -> None:
    """Import an export into an empty database, checking every hash on the way in.

    It commits every --checkpoint-lines lines, and the database remembers how far it
    got: if the run stops (a line fails its checks, Ctrl-C, a lost connection), whole
    checkpoints stay, and running the same command again resumes after the last one.
    Until it ends, `serve` and `worker` refuse the database. Exit code 1 names the
    first line at fault.
    """
    config = settings()
    try:
        size = readable_size(file)
        imported = run(
            lambda: import_file(config, file, size, Console(stderr=True), checkpoint_lines)
        )
    except CommandError as error:
        message = str(error)
        fail(message, 2 if message.startswith(("cannot read", "the database")) else 1)
    counts = imported.counts
    resumed = f" (resumed after line {imported.resumed_after})" if imported.resumed_after else ""
    typer.echo(
        f"imported {counts['event']} events, {counts['blob']} blobs, {counts['link']} chain "
        f"links and {counts['checkpoint']} checkpoints{resumed}"
    )
