"""`vibehq audit verify|trail|key`: check every chain and signed checkpoint; who did
what; the public key a verifier needs."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from typing import Annotated, Final

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from application.audit import Finding, first_of_each_kind
from application.event_codec import EventCodec, UnknownEventType
from domain.contracts import TrailEntry, VerifiedMark
from infrastructure.audit.keys import SigningKeyError, verify_key
from infrastructure.audit.parallel import jobs_for, verify_in_parallel
from infrastructure.audit.reader import chain_hash_at
from infrastructure.audit.trail import audit_trail
from infrastructure.audit.verified import mark_file, read_mark, write_mark
from infrastructure.audit.verify import verify_range
from infrastructure.event_store.log_queries import count_events, log_head, stream_exists
from infrastructure.settings import Settings
from interfaces.cli.common import (
    CommandError,
    fail,
    moment,
    parsed,
    progress_bar,
    resolve_stream,
    run_command,
    runtime_for,
    settings,
)
from interfaces.cli.tail import event_detail

audit_app = typer.Typer(
    help=(
        "Tamper evidence: every event is hash-chained to its stream's previous one, the "
        "global log is chained in order and its head signed with an Ed25519 key kept "
        "outside the database."
    ),
    no_args_is_help=True,
)

_CODEC: Final = EventCodec()
STREAM_HELP: Final = "Only this stream: an aggregate id, or its start."
#: Problems printed one per line before the summary.
SHOWN = 50


async def verify(
    config: Settings,
    *,
    stream_text: str | None,
    first: int | None,
    last: int | None,
    console: Console,
    new: bool = False,
    jobs: int = 0,
) -> tuple[list[Finding], int]:
    """Returns (problems, events checked). A clean run over the whole log, or with
    `new` over what came after the last one, moves the mark (infrastructure/audit/
    verified.py) to its last vouched-for checkpoint."""
    trusted = verify_key(config)
    mark_path = mark_file(config)
    mark = read_mark(mark_path) if new else None
    async with runtime_for(config) as runtime, runtime.pool.acquire() as conn:
        stream = None if stream_text is None else await resolve_stream(conn, stream_text)
        head = await log_head(conn, with_chain=True)
        start = first or 0
        end = head if last is None else last
        if last is not None and last > head:
            raise CommandError(f"--to {last} is beyond the head of the log ({head})")
        if first is not None and first > end:
            raise CommandError(f"--from {first} is beyond --to/the head ({end})")
        if stream is not None and not await stream_exists(conn, stream):
            raise CommandError(f"no stream {stream} in the log")
        anchor: bytes | None = None
        if new and mark is None:
            console.print("no earlier verification here: verifying the whole log")
        elif mark is not None:
            if mark.public_key != trusted.hex():
                raise CommandError(
                    f"the last verification ({mark_path}) trusted another key; "
                    "verify the whole log (without --new)"
                )
            start, anchor = mark.position + 1, bytes.fromhex(mark.log_hash)
            console.print(
                f"verifying after position {mark.position}, "
                f"where the verification of {mark.at:%Y-%m-%d %H:%M} UTC ended"
            )
            moved = await chain_hash_at(conn, mark.position)
            if moved != anchor:
                return [
                    Finding(
                        mark.position,
                        "log chain broken",
                        "the chain up to the last verification was rewritten since",
                    )
                ], 0
        total = await count_events(conn, first=start, last=end, stream=stream)
        processes = 1 if stream is not None else jobs_for(total, jobs, _cpus())
        label = "verifying" if processes == 1 else f"verifying in {processes} processes"
        with progress_bar(console, label, total) as update:
            if processes > 1:
                found = await verify_in_parallel(
                    runtime.engines.database_url,
                    trusted_key=trusted,
                    first=start,
                    last=end,
                    jobs=processes,
                    anchor=anchor,
                    progress=update,
                )
            else:
                found = await verify_range(
                    conn,
                    trusted_key=trusted,
                    first=start,
                    last=end,
                    stream=stream,
                    progress=update,
                    anchor=anchor,
                )
    whole = stream is None and last is None and (first is None or mark is not None)
    if whole and found.vouched is not None:
        write_mark(
            mark_path,
            VerifiedMark(
                position=found.vouched.to_position,
                log_hash=found.vouched.log_hash.hex(),
                public_key=trusted.hex(),
                at=datetime.now(UTC),
            ),
        )
    return found.problems, found.events


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def report(problems: list[Finding], events: int, console: Console) -> None:
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
    stream_text: str | None,
    since: datetime | None,
    limit: int,
) -> list[TrailEntry]:
    async with runtime_for(config) as runtime, runtime.pool.acquire() as conn:
        stream = None if stream_text is None else await resolve_stream(conn, stream_text)
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


@audit_app.command("verify")
def audit_verify(
    stream: Annotated[str | None, typer.Option(help=STREAM_HELP)] = None,
    from_position: Annotated[
        int | None, typer.Option("--from", help="First log position to check.", min=0)
    ] = None,
    to_position: Annotated[
        int | None, typer.Option("--to", help="Last log position to check.", min=0)
    ] = None,
    new: Annotated[
        bool,
        typer.Option(
            "--new",
            help="Only what came after the last clean verification from this data folder "
            "(chained on from the hash it saw there): a daily check of a long log.",
        ),
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            help="Processes verifying disjoint ranges side by side; 0 (the default): one "
            "per 20,000 events, up to the CPUs this process may use.",
            min=0,
        ),
    ] = 0,
) -> None:
    """Check every hash chain and signed checkpoint; exit 0 only when all hold.

    Reports each problem's position and kind: payload or metadata changed, event
    deleted, event inserted, events reordered, log chain broken, checkpoint signature
    invalid, checkpoint does not match the log. A clean run over the whole log (or
    with --new) remembers its last signed checkpoint in the data folder; --new starts
    there.
    """
    if new and (stream is not None or from_position is not None):
        fail("--new checks the whole log after the last verification: no --stream or --from", 2)
    config = settings()
    problems, events = run_command(
        lambda: verify(
            config,
            stream_text=stream,
            first=from_position,
            last=to_position,
            console=Console(stderr=True),
            new=new,
            jobs=jobs,
        )
    )
    report(problems, events, Console(soft_wrap=True))
    raise typer.Exit(1 if problems else 0)


@audit_app.command("key")
def audit_key() -> None:
    """Print the public key (base64) this instance's checkpoints verify with.

    Hand it to whoever verifies a copy of the log: after `vibehq events import`, the
    importer runs `VIBEHQ_VERIFY_KEY=<this key> vibehq audit verify`, since the
    checkpoints in the copy were signed with the exporter's key, not theirs. It is
    public: it lets anyone check signatures, and sign nothing.
    """
    config = settings()
    try:
        key = verify_key(config)
    except SigningKeyError as error:
        fail(str(error), 2)
    typer.echo(base64.b64encode(key).decode())


@audit_app.command("trail")
def audit_trail_command(
    actor: Annotated[str | None, typer.Option(help="Only this actor.")] = None,
    workspace: Annotated[
        str | None, typer.Option(help="Only this workspace (or any stream): its id or start.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="From this ISO 8601 moment on.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many events.", min=1)] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Who did what, when, and with which API token, oldest first."""
    config = settings()
    start = None
    if since is not None:
        when = parsed(lambda: moment(since, "--since"))
        if not isinstance(when, datetime):
            fail(f"--since {since!r} is not an ISO 8601 moment", 2)
        start = when
    entries = run_command(
        lambda: trail(config, actor=actor, stream_text=workspace, since=start, limit=limit)
    )
    show_trail(entries, limit, as_json, Console(soft_wrap=True))
