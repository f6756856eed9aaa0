"""`vibehq worker` and `vibehq projections`: the log's followers from the command line."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from infrastructure.projections.rebuild import rebuild
from infrastructure.projections.registry import all_projections, projection_named
from infrastructure.settings import Settings
from interfaces.composition import Runtime, open_runtime

projections_app = typer.Typer(
    help=(
        "Read models folded from the event log (delivery reports, ops views): how far "
        "behind they are, and rebuilding one from scratch."
    ),
    no_args_is_help=True,
)


@asynccontextmanager
async def runtime_for(config: Settings) -> AsyncIterator[Runtime]:
    runtime = await open_runtime(config)
    try:
        yield runtime
    finally:
        await runtime.close()


async def show_status(config: Settings, console: Console) -> None:
    async with runtime_for(config) as runtime:
        lags = await runtime.followers.lags()
    table = Table(title="Log followers", title_justify="left")
    for column in ("name", "position", "lag (events)", "lag (s)", "active owner", "updated"):
        table.add_column(column, justify="right" if "lag" in column else "left")
    for lag in lags:
        table.add_row(
            lag.name,
            str(lag.position),
            str(lag.lag_events),
            f"{lag.lag_seconds:.1f}",
            (lag.owner or "-") if lag.active else "[yellow]none running[/]",
            lag.updated_at.strftime("%Y-%m-%d %H:%M:%S") if lag.updated_at else "never",
        )
    console.print(table)


async def rebuild_one(config: Settings, name: str, console: Console) -> int:
    projection = projection_named(name)
    async with runtime_for(config) as runtime:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,  # no progress frames in logs
        ) as progress:
            task = progress.add_task(f"rebuilding {name}", total=None)

            def report(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            return await rebuild(
                dsn=runtime.engines.database_url,
                store=runtime.store,
                projection=projection,
                progress=report,
            )


async def run_worker(config: Settings, console: Console) -> None:
    """Run every follower until SIGINT/SIGTERM; standbys wait for the lease."""
    async with runtime_for(config) as runtime:
        background = runtime.start_background()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        names = ", ".join(f.name for f in background.followers)
        console.print(f"worker running {names}; Ctrl-C stops", style="dim")
        await stop.wait()
        console.print("stopping…", style="dim")


NameArgument = Annotated[
    str,
    typer.Argument(help="Projection to rebuild: " + ", ".join(p.name for p in all_projections())),
]
