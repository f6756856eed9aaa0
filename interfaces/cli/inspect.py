"""`vibehq workspace show|diff` and `vibehq replay`: look at the past from the command line."""

from __future__ import annotations

import sys
from datetime import datetime
from uuid import UUID

import asyncpg
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from application.workspace_queries import At
from infrastructure.projections.model import search_path
from infrastructure.projections.rebuild import build
from infrastructure.projections.registry import projection_named
from infrastructure.settings import Settings
from interfaces.cli.followers import runtime_for
from interfaces.http.params import parse_at

workspace_app = typer.Typer(
    help="Workspaces from the command line: time travel by version or moment.",
    no_args_is_help=True,
)


class CommandError(Exception):
    """A user error to print as one line (exit code 2)."""


def workspace_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise CommandError(f"{value!r} is not an id (a UUID)") from None


def moment(value: str | None, name: str) -> At:
    try:
        return parse_at(value, name)
    except ValueError as error:
        raise CommandError(str(error)) from None


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


async def replay(
    config: Settings, name: str, to: str | None, console: Console
) -> tuple[str, int, int]:
    """Build `name` as it stood at `to` into schema `vibehq_replay_<name>`."""
    projection = projection_named(name)
    schema = f"vibehq_replay_{projection.name}"
    async with runtime_for(config) as runtime:
        pool = runtime.pool
        if to is None:
            position = await runtime.store.head_position()
        elif to.isdigit():
            position = int(to)
            head = await runtime.store.head_position()
            if position > head:
                raise CommandError(f"--to {position} is beyond the head of the log ({head})")
        else:
            when = moment(to, "--to")
            assert isinstance(when, datetime)
            position = await pool.fetchval(
                "SELECT coalesce(max(notification_id), 0) FROM vibehq_events "
                "WHERE recorded_at <= $1 AND notification_id < vibehq_watermark()",
                when,
            )
        # Built under a temporary name and renamed at the end: an interrupted replay
        # leaves the previous replay (or none) in place, never a half-built one.
        building = f"{schema}__building"
        conn = await asyncpg.connect(
            runtime.engines.database_url, server_settings=search_path(building)
        )
        try:
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
                disable=not console.is_terminal,  # no progress frames in logs
            ) as progress:
                task = progress.add_task(f"replaying {name}", total=None)
                last = await build(
                    conn,
                    store=runtime.store,
                    projection=projection,
                    schema=building,
                    to_position=position,
                    progress=lambda done, total: progress.update(task, completed=done, total=total),
                )
            async with conn.transaction():
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                await conn.execute(f'ALTER SCHEMA "{building}" RENAME TO "{schema}"')
            events = await conn.fetchval(
                "SELECT count(*) FROM vibehq_events WHERE notification_id <= $1", last
            )
        finally:
            await conn.close()
    return schema, last, events
