"""What every `vibehq` command shares: settings, one-line errors, running async work, progress.

Each area's module (`tokens.py`, `audit.py`, `tail.py`, …) owns its typer sub-app and
commands and takes its helpers from here; `main.py` only assembles them. Errors a user
can fix are one line on stderr (`vibehq: ...`): exit 2 for bad input, 1 for a failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Final, NoReturn, Protocol, TypeVar
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from application.workspace_queries import At
from domain.errors import Busy, Forbidden, Invalid, NotFound, Refused
from domain.workspace import Workspace
from infrastructure.embedded.common import EngineError
from infrastructure.event_store.log_queries import streams_between
from infrastructure.event_store.migrator import MigrationError
from infrastructure.logs import configure_logging
from infrastructure.pool import DbConnection
from infrastructure.settings import Settings, SettingsError, load_settings
from interfaces.composition import Runtime, open_runtime
from interfaces.http.params import parse_at

T = TypeVar("T")

#: Characters of an id that tables print; `id_range` takes any prefix.
SHORT_ID: Final = 8
#: The stream type of workspaces, for prefixes that should name one.
WORKSPACE: Final = Workspace.__name__


class CommandError(Exception):
    """A user error to print as one line (exit code 2)."""


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"vibehq: {message}", err=True)
    raise typer.Exit(code)


def settings() -> Settings:
    """The settings from the environment, or one line naming the bad variable (exit 2)."""
    try:
        loaded = load_settings()
    except SettingsError as error:
        fail(str(error), 2)
    configure_logging(loaded.log_level, loaded.log_format)
    return loaded


def run(coroutine_fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run an async command, turning the errors a user can fix into one line."""
    try:
        return asyncio.run(coroutine_fn())
    except (EngineError, MigrationError, OSError) as error:
        fail(str(error))


def parsed(parse: Callable[[], T]) -> T:
    """`parse()`, or one line and exit 2 when it raises CommandError."""
    try:
        return parse()
    except CommandError as error:
        fail(str(error), 2)


def run_command(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run, turning the errors of domain/errors.py into one line: bad input or a missing
    thing exits 2, a refusal or a busy system 1."""
    try:
        return run(work)
    except (CommandError, NotFound, Invalid, LookupError) as error:
        fail(str(error.args[0] if error.args else error), 2)
    except (Refused, Busy, Forbidden) as error:
        fail(str(error))


#: Candidates named when a short id is ambiguous.
CANDIDATES_SHOWN: Final = 5


def id_range(text: str) -> tuple[UUID, UUID]:
    """The ids a prefix such as `1f3a9c` (what the CLI's tables print) may stand for."""
    digits = text.replace("-", "").lower()
    if not 1 <= len(digits) <= 32 or digits.strip("0123456789abcdef"):
        raise CommandError(f"{text!r} is not an id, nor the start of one (hex digits)")
    return UUID(digits.ljust(32, "0")), UUID(digits.ljust(32, "f"))


def chosen(what: str, text: str, found: Sequence[UUID]) -> UUID:
    """The one id a prefix matched; else one line saying there is none, or listing them."""
    if not found:
        raise CommandError(f"no {what} id starts with {text!r}")
    if len(found) > 1:
        shown = ", ".join(str(candidate) for candidate in found[:CANDIDATES_SHOWN])
        more = " and more" if len(found) > CANDIDATES_SHOWN else ""
        raise CommandError(f"{text!r} starts more than one {what} id: {shown}{more}")
    return found[0]


async def resolve_stream(
    conn: DbConnection,
    text: str,
    *,
    what: str = "stream",
    stream_type: str | None = None,
    option: str = "",
) -> UUID:
    """A full id as given, or the one stream whose id starts with `text`.

    `option` (e.g. `--workspace`) starts any error, so the user knows which input it was.
    """
    try:
        return UUID(text)
    except ValueError:
        pass
    try:
        low, high = id_range(text)
        found = await streams_between(
            conn, low, high, stream_type=stream_type, limit=CANDIDATES_SHOWN + 1
        )
        return chosen(what, text, found)
    except CommandError as error:
        raise CommandError(f"{option} {error}" if option else str(error)) from None


async def resolve_workspace(runtime: Runtime, text: str) -> UUID:
    async with runtime.pool.acquire() as conn:
        return await resolve_stream(conn, text, what="workspace", stream_type=WORKSPACE)


def short(value: UUID) -> str:
    """An id as tables print it: a prefix any command taking that id accepts."""
    return str(value)[:SHORT_ID]


def moment(value: str | None, name: str) -> At:
    """A version (`3`) or an ISO 8601 moment, as `--at` and friends take them."""
    try:
        return parse_at(value, name)
    except ValueError as error:
        raise CommandError(str(error)) from None


@asynccontextmanager
async def runtime_for(config: Settings) -> AsyncIterator[Runtime]:
    """The service's adapters for one command, closed when it ends."""
    runtime = await open_runtime(config)
    try:
        yield runtime
    finally:
        await runtime.close()


class ProgressUpdate(Protocol):
    """Reports `done` so far (and, when it becomes known or changes, the `total`)."""

    def __call__(self, done: int, total: int | None = None, /) -> None: ...


class _Rate(ProgressColumn):
    """How many `unit` a second, once there is a rate to tell."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self._unit = unit or "/s"

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed:
            return Text("")
        return Text(f"{speed:,.0f} {self._unit}/s" if self._unit != "/s" else f"{speed:,.0f}/s")


@contextmanager
def progress_bar(
    console: Console, description: str, total: int | None, unit: str = ""
) -> Iterator[ProgressUpdate]:
    """A transient bar on a terminal (nothing in logs); yields `update(done, total)`."""
    count = f"{{task.completed}}/{{task.total}} {unit}" if unit else MofNCompleteColumn()
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        count,
        _Rate(unit),
        TimeElapsedColumn(),
        "eta",
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task(description, total=total)

        def update(done: int, new_total: int | None = None) -> None:
            if new_total is None:
                progress.update(task, completed=done)
            else:
                progress.update(task, completed=done, total=new_total)

        yield update
