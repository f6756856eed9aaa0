"""`vibehq engines` and `vibehq db`: the embedded servers and the event database's schema."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from infrastructure.embedded.engines import embedded_engines
from infrastructure.event_store import partitions as log_partitions
from infrastructure.settings import data_folder
from interfaces.cli.common import CommandError, run, run_command, settings
from interfaces.command_resources import small_pool
from interfaces.composition import open_engines, run_migrations

engines_app = typer.Typer(
    help="The embedded PostgreSQL and NATS servers in the data folder.", no_args_is_help=True
)

db_app = typer.Typer(
    help="The event database: migrations, and the log partitioned by position.",
    no_args_is_help=True,
)


@engines_app.command("status")
def engines_status() -> None:
    """Say whether the embedded servers of the data folder are running."""
    config = settings()
    for engine in embedded_engines(data_folder(config)):
        port = engine._running_port()
        state = f"running on port {port}" if port else "stopped"
        typer.echo(f"{type(engine).__name__:16} {state}  ({engine.folder})")


@engines_app.command("stop")
def engines_stop() -> None:
    """Stop the embedded servers of the data folder, whoever started them."""
    config = settings()
    for engine in embedded_engines(data_folder(config)):
        engine.force_stop()
        typer.echo(f"{type(engine).__name__} stopped")


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending schema migrations (idempotent; also done at service start)."""
    config = settings()

    async def go() -> list[str]:
        engines = await open_engines(config)
        try:
            return await run_migrations(engines.database_url)
        finally:
            await asyncio.to_thread(engines.stop)

    applied = run(go)
    typer.echo("\n".join(f"applied {name}" for name in applied) or "schema is already current")


def _print_partitions(found: list[log_partitions.Partition]) -> None:
    if not found:
        typer.echo("the event log is not partitioned (vibehq db partition makes it so)")
        return
    typer.echo(f"{'partition':24} {'rows':>12} {'MB':>9}  {'tablespace':12} positions")
    for part in found:
        positions = part.bounds.removeprefix("FOR VALUES ").replace("'", "")
        typer.echo(
            f"{part.name:24} {part.rows:>12,} {part.bytes / 1e6:>9.1f}  "
            f"{part.tablespace:12} {positions}"
        )


@db_app.command("partition")
def db_partition(
    transactions: Annotated[
        int,
        typer.Option(
            min=1,
            help="Transactions per partition. A position is the writing transaction's id "
            "shifted left 16 bits, so a partition is a span of time: 2**24 transactions "
            "hold a few GB of events.",
        ),
    ] = log_partitions.TRANSACTIONS,
    ahead: Annotated[
        int, typer.Option(min=0, max=100, help="Partitions made ready beyond the current one.")
    ] = log_partitions.AHEAD,
) -> None:
    """Partition the event log by position (docs/scaling.md), once, in one transaction.

    The stored events stay where they are and become the first partition; writers wait
    for the moment it takes (a scan of the log to check its range). Afterwards every
    start and the worker keep partitions ready ahead, and old ones can move to another
    tablespace (ALTER TABLE ... SET TABLESPACE) and stay verifiable.
    """
    config = settings()

    async def go() -> list[log_partitions.Partition]:
        async with small_pool(config) as pool, pool.acquire() as conn:
            if await log_partitions.is_partitioned(conn):
                raise CommandError("the event log is already partitioned: vibehq db partitions")
            await log_partitions.partition_log(conn, transactions=transactions, ahead=ahead)
            return await log_partitions.partitions(conn)

    found = run_command(go)
    typer.echo(f"the event log is partitioned, {transactions:,} transactions per partition")
    _print_partitions(found)


@db_app.command("partitions")
def db_partitions() -> None:
    """List the event log's partitions: rows (estimated), size, tablespace, positions."""
    config = settings()

    async def go() -> list[log_partitions.Partition]:
        async with small_pool(config) as pool, pool.acquire() as conn:
            return await log_partitions.partitions(conn)

    _print_partitions(run(go))
