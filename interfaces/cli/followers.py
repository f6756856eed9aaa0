"""`vibehq worker` and `vibehq projections`: the log's followers from the command line."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated, Final

import typer
from rich.console import Console
from rich.table import Table

from infrastructure.audit.notary import AUDIT
from infrastructure.fanout.relay import RELAY
from infrastructure.projections.rebuild import rebuild
from infrastructure.projections.registry import all_projections, projection_named
from infrastructure.settings import Settings
from interfaces.cli.common import fail, progress_bar, run, runtime_for, settings
from interfaces.command_resources import require_complete_log

projections_app = typer.Typer(
    help=(
        "Read models folded from the event log (delivery reports, ops views): how far "
        "behind they are, and rebuilding one from scratch."
    ),
    no_args_is_help=True,
)

NameArgument = Annotated[
    str,
    typer.Argument(help="Projection to rebuild: " + ", ".join(p.name for p in all_projections())),
]


_STATE_STYLE: Final = {
    "current": "[green]{}[/]",
    "catching_up": "{}",
    "stuck": "[bold red]{}[/]",
    "stopped": "[yellow]{}[/]",
}


async def show_status(config: Settings, console: Console) -> None:
    async with runtime_for(config) as runtime:
        lags = await runtime.services.followers.lags()
    table = Table(title="Log followers", title_justify="left")
    columns = ("name", "state", "position", "lag (events)", "lag (s)", "active owner", "updated")
    for column in columns:
        table.add_column(column, justify="right" if "lag" in column else "left")
    for lag in lags:
        table.add_row(
            lag.name,
            _STATE_STYLE[lag.state].format(lag.state),
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
        with progress_bar(console, f"rebuilding {name}", None) as update:
            return await rebuild(
                dsn=runtime.engines.database_url,
                store=runtime.store,
                projection=projection,
                progress=update,
            )


#: Every follower a worker runs, by name.
FOLLOWERS: Final = (*(p.name for p in all_projections()), RELAY, AUDIT)


async def run_worker(
    config: Settings, console: Console, only: frozenset[str] | None = None
) -> None:
    """Run every follower (or those named in `only`) until SIGINT/SIGTERM; standbys
    wait for the lease."""
    async with runtime_for(config) as runtime:
        await require_complete_log(runtime.engines.database_url)
        background = runtime.start_background(only)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        names = ", ".join(f.name for f in [*background.followers, *background.chores])
        console.print(f"worker running {names}; Ctrl-C stops", style="dim")
        await stop.wait()
        console.print("stopping…", style="dim")


@projections_app.command("status")
def projections_status() -> None:
    """Each projection and the relay: state (current, catching_up, stuck, stopped),
    position, lag in events and seconds, active owner."""
    config = settings()
    run(lambda: show_status(config, Console()))


@projections_app.command("rebuild")
def projections_rebuild(name: NameArgument) -> None:
    """Rebuild a read model from the whole log into shadow tables, then swap them in.

    Readers keep the old model until the swap commits; the running projection carries
    on from where the new model stands.
    """
    config = settings()
    try:
        projection_named(name)
    except LookupError as error:
        fail(str(error), 2)
    position = run(lambda: rebuild_one(config, name, Console(stderr=True)))
    typer.echo(f"{name} rebuilt and swapped in at position {position}")


def worker(
    only: Annotated[
        str | None,
        typer.Option(
            help="Only these followers, comma-separated: " + ", ".join(FOLLOWERS) + ". "
            "By default all of them, in one process (one core); workers with disjoint "
            "--only spread them over cores.",
        ),
    ] = None,
) -> None:
    """Run the projections, the NATS relay and the audit chain (without HTTP) until
    Ctrl-C.

    Start several for failover: one of each follower is active, the others take over
    within seconds when it stops. Set VIBEHQ_BACKGROUND=off on `serve` to run them
    only here.
    """
    config = settings()
    chosen = None
    if only is not None:
        chosen = frozenset(name.strip() for name in only.split(",") if name.strip())
        unknown = sorted(chosen - set(FOLLOWERS))
        if unknown or not chosen:
            fail(
                f"--only {only!r}: no follower named {', '.join(unknown) or 'there'}; "
                f"the followers are {', '.join(FOLLOWERS)}",
                2,
            )
    run(lambda: run_worker(config, Console(stderr=True), chosen))
