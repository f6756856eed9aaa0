"""`vibehq engines` and `vibehq db`: the embedded servers and the event database's schema."""

from __future__ import annotations

import asyncio

import typer

from infrastructure.embedded.engines import embedded_engines
from infrastructure.settings import data_folder
from interfaces.cli.common import run, settings
from interfaces.composition import open_engines, run_migrations

engines_app = typer.Typer(
    help="The embedded PostgreSQL and NATS servers in the data folder.", no_args_is_help=True
)
db_app = typer.Typer(help="The event database: migrations.", no_args_is_help=True)


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
