"""`vibehq doctor`: every dependency checked in turn, each problem with its fix."""

from __future__ import annotations

from collections.abc import Callable

import typer

from domain.contracts import HealthCheck
from infrastructure.embedded.common import EngineError
from infrastructure.fanout.connection import nats_access
from infrastructure.fanout.subjects import Subjects
from infrastructure.health import check_dependencies
from infrastructure.settings import Settings, data_folder
from interfaces.cli.common import run, settings
from interfaces.composition import open_engines


def _line(check: HealthCheck) -> str:
    mark = "ok  " if check.ok else "FAIL"
    text = f"[{mark}] {check.name:11} {check.detail}"
    return text if check.ok else f"{text}\n       fix: {check.fix}"


async def diagnose(settings: Settings, say: Callable[[str], object]) -> bool:
    """Print one line per check; True when everything is usable."""
    say(f"[ok  ] settings    data folder {data_folder(settings)}")
    try:
        engines = await open_engines(settings)
    except EngineError as error:
        say(_line(HealthCheck("engines", False, str(error), "see the message above")))
        return False
    try:
        subjects = Subjects(settings.nats_prefix)
        streams = [subjects.events_stream, subjects.terminal_stream]
        checks = await check_dependencies(
            engines.database_url, engines.nats_url, streams, nats_access(settings)
        )
    finally:
        engines.stop()
    for check in checks:
        say(_line(check))
    return all(check.ok for check in checks)


def doctor() -> None:
    """Check settings, engines, database and NATS; print what is wrong and how to fix it."""
    ok = run(lambda: diagnose(settings(), typer.echo))
    raise typer.Exit(0 if ok else 1)
