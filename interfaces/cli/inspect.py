"""`vibehq workspace show|diff` and `vibehq replay`: look at the past from the command line."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Annotated

import msgspec
import typer
from rich.console import Console
from rich.table import Table

from application.workspace_queries import At
from domain.contracts import WorkspacePage
from infrastructure.event_store.log_queries import position_at
from infrastructure.projections import rebuild
from infrastructure.projections.registry import projection_named
from infrastructure.settings import Settings
from interfaces.cli.common import (
    CommandError,
    moment,
    parsed,
    progress_bar,
    resolve_workspace,
    run_command,
    runtime_for,
    settings,
    short,
)
from interfaces.cli.followers import NameArgument

WORKSPACE_ARGUMENT = "The workspace id, or its start as `workspace list` prints it."

workspace_app = typer.Typer(
    help="Workspaces from the command line: list them, and time travel by version or moment.",
    no_args_is_help=True,
)


async def show(config: Settings, text: str, at: At, path: str | None, console: Console) -> None:
    async with runtime_for(config) as runtime:
        workspace = await resolve_workspace(runtime, text)
        queries = runtime.services.queries
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


async def diff(config: Settings, text: str, from_at: At, to_at: At) -> str:
    async with runtime_for(config) as runtime:
        workspace = await resolve_workspace(runtime, text)
        return await runtime.services.queries.diff(workspace, from_at, to_at)


async def listing(
    config: Settings, *, name: str | None, created_by: str | None, limit: int, cursor: str | None
) -> WorkspacePage:
    async with runtime_for(config) as runtime:
        return await runtime.services.workspace_list.page(
            name=name, created_by=created_by, limit=limit, cursor=cursor
        )


def show_listing(page: WorkspacePage, as_json: bool, console: Console) -> None:
    if as_json:
        for item in page.items:
            print(msgspec.json.encode(item).decode(), flush=True)
        return
    table = Table("id", "name", "created by", "version", "files", "bytes", "modified (UTC)")
    for item in page.items:
        name = item.name + (" (archived)" if item.archived else "")
        table.add_row(
            short(item.id),
            name,
            item.created_by,
            str(item.version),
            str(item.file_count),
            f"{item.total_bytes:,}",
            f"{item.modified_at:%Y-%m-%d %H:%M:%S}",
        )
    console.print(table)
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}", highlight=False)


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
    workspace: Annotated[str, typer.Argument(help=WORKSPACE_ARGUMENT)],
    at: Annotated[
        str | None, typer.Option(help="A version (e.g. 3) or an ISO 8601 moment. Default: now.")
    ] = None,
    path: Annotated[
        str | None, typer.Option(help="Print this file's bytes instead of the listing.")
    ] = None,
) -> None:
    """List a workspace's files (or print one) as it stood at a version or moment."""
    config = settings()
    when = parsed(lambda: moment(at, "--at"))
    run_command(lambda: show(config, workspace, when, path, Console(soft_wrap=True)))


@workspace_app.command("diff")
def workspace_diff(
    workspace: Annotated[str, typer.Argument(help=WORKSPACE_ARGUMENT)],
    from_at: Annotated[str, typer.Argument(metavar="FROM", help="Version or ISO moment.")],
    to_at: Annotated[str, typer.Argument(metavar="TO", help="Version or ISO moment.")],
) -> None:
    """The unified diff of a workspace between two versions or moments (git-style)."""
    config = settings()
    start = parsed(lambda: moment(from_at, "FROM"))
    end = parsed(lambda: moment(to_at, "TO"))
    sys.stdout.write(run_command(lambda: diff(config, workspace, start, end)))


@workspace_app.command("list")
def workspace_list(
    name: Annotated[str | None, typer.Option(help="Only workspaces with this name.")] = None,
    created_by: Annotated[str | None, typer.Option(help="Only those this actor created.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.", min=1, max=500)] = 50,
    cursor: Annotated[
        str | None, typer.Option(help="Continue a listing (the `more:` line prints it).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Workspaces, newest first. The short ids it prints work wherever an id is asked for."""
    config = settings()
    page = run_command(
        lambda: listing(config, name=name, created_by=created_by, limit=limit, cursor=cursor)
    )
    show_listing(page, as_json, Console(soft_wrap=True))


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
