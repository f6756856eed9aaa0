"""`vibehq events export|import`: the log as JSON Lines, out and back in."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from uuid import UUID

from rich.console import Console
from rich.progress import BarColumn, Progress, TimeElapsedColumn

from infrastructure.audit.transfer import ImportRefused, export_lines, import_lines
from infrastructure.settings import Settings
from interfaces.cli.followers import runtime_for
from interfaces.cli.inspect import CommandError


async def export(
    config: Settings,
    out: Path,
    *,
    stream: UUID | None,
    first: int | None,
    to: str | None,
    console: Console,
) -> int:
    """Write the export to `out` (atomically: a temporary file renamed at the end)."""
    async with runtime_for(config) as runtime:
        conn = await runtime.pool.acquire()
        try:
            head = await conn.fetchval(
                "SELECT coalesce(max(notification_id), 0) FROM vibehq_events"
            )
            last = await _position(conn, to, head)
            if stream is not None and not await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM vibehq_events WHERE originator_id = $1)", stream
            ):
                raise CommandError(f"no stream {stream} in the log")
            total = await conn.fetchval(
                "SELECT count(*) FROM vibehq_events WHERE notification_id BETWEEN $1 AND $2 "
                "AND ($3::uuid IS NULL OR originator_id = $3)",
                first or 0,
                last,
                stream,
            )
            full = stream is None and first is None and to is None
            partial = out.with_name(out.name + ".partial")
            written = 0
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                "{task.completed}/{task.total} events",
                TimeElapsedColumn(),
                console=console,
                transient=True,
                disable=not console.is_terminal,  # no progress frames in logs
            ) as progress:
                task = progress.add_task(f"exporting to {out}", total=total)
                try:
                    with partial.open("wb") as handle:
                        async for line in export_lines(
                            conn, stream=stream, first=first or 0, last=last, full=full
                        ):
                            handle.write(line)
                            if line.startswith(b'{"kind":"event"'):
                                written += 1
                                if written % 200 == 0:
                                    progress.update(task, completed=written)
                        handle.flush()
                        os.fsync(handle.fileno())
                    partial.replace(out)
                except BaseException:
                    partial.unlink(missing_ok=True)  # never leave half a file behind
                    raise
                progress.update(task, completed=written)
        finally:
            await runtime.pool.release(conn)
    return written


async def _position(conn: object, to: str | None, head: int) -> int:
    if to is None:
        return head
    if to.isdigit():
        if int(to) > head:
            raise CommandError(f"--to {to} is beyond the head of the log ({head})")
        return int(to)
    try:
        moment = datetime.fromisoformat(to.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"--to {to!r} is neither a position nor an ISO 8601 moment") from None
    position: int = await conn.fetchval(  # type: ignore[attr-defined]
        "SELECT coalesce(max(notification_id), 0) FROM vibehq_events WHERE recorded_at <= $1",
        moment,
    )
    return position


def _numbered_lines(path: Path, progress: Progress, task: object) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line
            progress.update(task, completed=handle.tell())  # type: ignore[arg-type]


def readable_size(path: Path) -> int:
    """The file's size, or CommandError saying why it cannot be read."""
    if not path.is_file():
        raise CommandError(f"cannot read {path}: no such file")
    try:
        with path.open("rb") as probe:
            probe.read(1)
        return path.stat().st_size
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror}") from None


async def import_file(config: Settings, path: Path, size: int, console: Console) -> dict[str, int]:
    async with runtime_for(config) as runtime:
        conn = await runtime.pool.acquire()
        try:
            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
                disable=not console.is_terminal,  # no progress frames in logs
            ) as progress:
                task = progress.add_task(f"importing {path}", total=size)
                try:
                    return await import_lines(conn, _numbered_lines(path, progress, task))
                except ImportRefused as error:
                    raise CommandError(str(error)) from None
        finally:
            await runtime.pool.release(conn)
