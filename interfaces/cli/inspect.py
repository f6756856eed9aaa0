"""`vibehq workspace show|diff` and `vibehq replay`: look at the past from the command line."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated
from uuid import UUID

import typer
from rich.console import Console
from rich.table import Table

from application.workspace_queries import At
from infrastructure.event_store.log_queries import position_at
from infrastructure.projections import rebuild
from infrastructure.projections.registry import projection_named
from infrastructure.settings import Settings
from interfaces.cli.common import (
    CommandError,
    moment,
    parsed,
    progress_bar,
    run_command,
    runtime_for,
    settings,
    workspace_id,
)
from interfaces.cli.followers import NameArgument

workspace_app = typer.Typer(
    help="Workspaces from the command line: time travel by version or moment.",
    no_args_is_help=True,
)


async def show(
    config: Settings, workspace: UUID, at: At, path: str | None, console: Console
) -> None:
    async with runtime_for(config) as runtime:
        queries = runtime.queries
        summary = await queries.summary(workspace, at)
        if path is not None:
            _, content, _ = await queries.file(workspace, path, at)
            sys.stdout.buffer.write(content)
            sys.stdout.buffer.flush()
            return
        listing = await queries.files(workspace, at)
    console.print(
        f"[bold]{summary.name}[/] {summary.id} at version {summary.version} "
        f"({summary.modified_at:%Y-%m-%d %H:%M:%S} UTC, {summary.file_count} files, "
        f"{summary.total_bytes:,} bytes{', archived' if summary.archived else ''})",
        highlight=False,
    )
    table = Table("path", "mode", "bytes", "sha256")
    for file_path, entry in sorted(listing.files.items()):
        table.add_row(file_path, entry.mode, f"{entry.size:,}", entry.sha256[:12])
    console.print(table)


async def diff(config: Settings, workspace: UUID, from_at: At, to_at: At) -> str:
    async with runtime_for(config) as runtime:
        return await runtime.queries.diff(workspace, from_at, to_at)


async def replay_at(
    config: Settings, name: str, to: str | None, console: Console
) -> tuple[str, int, int]:
    """Build `name` as it stood at `to` into schema `vibehq_replay_<name>`."""
    projection = projection_named(name)
    async with runtime_for(config) as runtime:
        head = await runtime.store.head_position()
        if to is None:
            position = head
        elif to.isdigit():
            position = int(to)
            if position > head:
                raise CommandError(f"--to {position} is beyond the head of the log ({head})")
        else:
            when = moment(to, "--to")
            assert isinstance(when, datetime)
            async with runtime.pool.acquire() as conn:
                position = await position_at(conn, when)
        with progress_bar(console, f"replaying {name}", None) as update:
            return await rebuild.replay(
                dsn=runtime.engines.database_url,
                store=runtime.store,
                projection=projection,
                to_position=position,
                progress=update,
            )


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
    config = settings()
    target = parsed(lambda: workspace_id(workspace))
    when = parsed(lambda: moment(at, "--at"))
    run_command(lambda: show(config, target, when, path, Console(soft_wrap=True)))


@workspace_app.command("diff")
def workspace_diff(
    workspace: Annotated[str, typer.Argument(help="The workspace id.")],
    from_at: Annotated[str, typer.Argument(metavar="FROM", help="Version or ISO moment.")],
    to_at: Annotated[str, typer.Argument(metavar="TO", help="Version or ISO moment.")],
) -> None:
    """The unified diff of a workspace between two versions or moments (git-style)."""
    config = settings()
    target = parsed(lambda: workspace_id(workspace))
    start = parsed(lambda: moment(from_at, "FROM"))
    end = parsed(lambda: moment(to_at, "TO"))
    sys.stdout.write(run_command(lambda: diff(config, target, start, end)))


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
    config = settings()
    schema, position, events = run_command(
        lambda: replay_at(config, name, to, Console(stderr=True))
    )
    typer.echo(f"{name} as of position {position} ({events} events) is in schema {schema}")
