"""`vibehq serve`, `vibehq demo` and `vibehq settings`: running the service itself."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from typing import Annotated

import msgspec
import typer

from infrastructure.fanout.connection import nats_access
from infrastructure.settings import (
    SETTINGS,
    Settings,
    data_folder,
    help_text,
    mask_password,
    shown_value,
)
from interfaces.cli.common import run, settings
from interfaces.cli.tokens import ensure_dev_token
from interfaces.command_resources import require_complete_log, token_service
from interfaces.composition import open_engines, require_nats, run_migrations


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [VIBEHQ_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port [VIBEHQ_PORT].")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes [VIBEHQ_WORKERS].")] = None,
) -> None:
    """Run the HTTP API (OpenAPI docs at /schema) on the configured or embedded engines."""
    from interfaces.http.serving import serve_http

    config = settings()
    say = _announcer(config)
    engines = run(lambda: open_engines(config))
    try:
        for name in run(lambda: run_migrations(engines.database_url)):
            say(f"applied migration {name}")
        run(lambda: require_complete_log(engines.database_url))
        run(
            lambda: require_nats(engines.nats_url, nats_access(config))
        )  # one line and exit 1, not a 2-minute wait
        token_note = _local_token_note(config, engines.database_url)
        os.environ["VIBEHQ_DATABASE_URL"] = engines.database_url
        os.environ["VIBEHQ_NATS_URL"] = engines.nats_url
        bind_host = host or config.host
        bind_port = config.port if port is None else port
        say(
            f"vibehq serving on http://{bind_host}:{bind_port}  "
            f"(docs: /schema, health: /health, ready: /ready)\n"
            f"  PostgreSQL: {mask_password(engines.database_url)}\n"
            f"  NATS:       {mask_password(engines.nats_url)}\n"
            f"{token_note}"
        )
        serve_http(
            host=bind_host,
            port=bind_port,
            workers=workers or config.workers,
            log_level=config.log_level,
            log_format=config.log_format,
            settings=msgspec.structs.replace(
                config, database_url=engines.database_url, nats_url=engines.nats_url
            ),
        )
    finally:
        engines.stop()


def _announcer(config: Settings) -> Callable[[str], None]:
    """How serve says what it is doing: plain lines for a terminal; with JSON logs, log
    records like every other line, so a collector reads one object per line."""
    if config.log_format == "json":
        return logging.getLogger("vibehq.serve").info
    return lambda text: typer.echo(text, err=True)


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

    run(go)
    return (
        "  Auth:       an admin token for this local instance is in "
        f"{folder / 'dev-token'} (not printed: output ends up in logs)"
    )


def demo(
    port: Annotated[int, typer.Option(help="HTTP port; 0 picks a free one.")] = 0,
    keep: Annotated[
        bool, typer.Option("--keep/--no-keep", help="Keep serving after the demo until Ctrl-C.")
    ] = False,
) -> None:
    """Show the main job: three factories patch one workspace (apply, conflict, revert)."""
    from rich.console import Console

    from interfaces.cli.demo import run_demo

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


def show_settings() -> None:
    """List every environment variable vibehq reads: its value here, meaning and default.

    Secret values are shown only as set; passwords in URLs are masked.
    """
    for name in SETTINGS:
        value = shown_value(name, os.environ.get(name, ""))
        typer.echo(f"{name:26} {value or '(unset)':30} {help_text(name)}")
