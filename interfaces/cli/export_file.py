"""An export file that survives being cut short: `vibehq events export` run again with
the same options goes on from the last checkpoint instead of starting over.

The export is written to `OUT.partial`. Every `every` events the file is sealed (the
current gzip member or Zstandard frame ended, the file on disk) and `OUT.resume`
records how far it got: the last event's position, the events written, the file's
size then, and the options. A run cut short (Ctrl-C, a lost connection, a full disk,
a killed process) leaves both behind; the next run with the same options cuts
`OUT.partial` back to the recorded size and goes on after the recorded position, in
a new member or frame; the file is renamed to OUT when complete. Other options are
refused while an unfinished export of OUT waits (delete the two files to start over).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Final, Protocol
from uuid import UUID

import msgspec

from infrastructure.audit.transfer import export_lines
from infrastructure.pool import DbConnection
from interfaces.cli.common import CommandError
from interfaces.cli.compressed import Packed

#: Events between two checkpoints of an export, by default.
CHECKPOINT_EVENTS: Final = 20_000

_EVENT: Final = re.compile(rb'^\{"kind":"event","position":(\d+),')


class Options(msgspec.Struct, frozen=True):
    """What was asked for: a resumed export must ask for the same."""

    stream: UUID | None
    first: int
    to: str | None

    @property
    def full(self) -> bool:
        """No filter: the file also carries the chain and its checkpoints."""
        return self.stream is None and self.first == 0 and self.to is None


class Progress(msgspec.Struct, frozen=True):
    """The content of `OUT.resume`: the options, the last position they came to when
    the export began, and how far it got."""

    options: Options
    last: int
    position: int
    events: int
    size: int


class Lines(Protocol):
    def __call__(
        self,
        conn: DbConnection,
        *,
        stream: UUID | None,
        first: int,
        last: int,
        full: bool,
        resume_after: int | None = None,
    ) -> AsyncGenerator[bytes, None]: ...


class ExportStopped(Exception):
    """The export was cut short after a checkpoint: the same command resumes it."""


def _partial(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def _resume(out: Path) -> Path:
    return out.with_name(out.name + ".resume")


def unfinished(out: Path, options: Options) -> Progress | None:
    """The checkpoint an earlier run of these options left for `out`, if any."""
    marker, partial = _resume(out), _partial(out)
    if not marker.exists() or not partial.exists():
        return None
    try:
        found = msgspec.json.decode(marker.read_bytes(), type=Progress)
    except msgspec.DecodeError:
        return None  # a marker cut short itself: start afresh
    if found.options != options:
        raise CommandError(
            f"{partial} holds an unfinished export with other options "
            f"(stream {found.options.stream}, from {found.options.first}, to "
            f"{found.options.to}); run the same command to finish it, or delete "
            f"{partial} and {marker}"
        )
    return found


def _record(out: Path, progress: Progress) -> None:
    marker = _resume(out)
    fresh = marker.with_name(marker.name + ".new")
    fresh.write_bytes(msgspec.json.encode(progress))
    os.replace(fresh, marker)


async def write_export(
    conn: DbConnection,
    out: Path,
    options: Options,
    *,
    last: int,
    resumed: Progress | None,
    every: int = CHECKPOINT_EVENTS,
    update: Callable[[int], None] = lambda _: None,
    lines: Lines = export_lines,
) -> int:
    """Events in the finished file: positions options.first to `last`, or, after
    `resumed` (what `unfinished` found), the rest of them."""
    if resumed is not None:
        last = resumed.last
    partial = _partial(out)
    written = resumed.events if resumed else 0
    checkpoint = resumed
    handle = Packed(partial, out, at=resumed.size if resumed else None)
    update(written)
    try:
        source = lines(
            conn,
            stream=options.stream,
            first=options.first,
            last=last,
            full=options.full,
            resume_after=resumed.position if resumed else None,
        )
        async with contextlib.aclosing(source):  # its transaction ends here, come what may
            async for line in source:
                handle.write(line)
                event = _EVENT.match(line)
                if event is None:
                    continue
                written += 1
                if written % every == 0:
                    checkpoint = Progress(options, last, int(event[1]), written, handle.seal())
                    _record(out, checkpoint)
                if written % 200 == 0:
                    update(written)
        handle.close()
    except BaseException as error:
        handle.abandon()
        if checkpoint is None:
            partial.unlink(missing_ok=True)  # nothing worth keeping
            raise
        with partial.open("r+b") as cut:
            cut.truncate(checkpoint.size)
        cause = f"{error}; " if isinstance(error, Exception) and str(error) else ""
        raise ExportStopped(
            f"{cause}stopped after {checkpoint.events:,} events (position "
            f"{checkpoint.position}); {partial} keeps them: run the same command to go on"
        ) from None
    partial.replace(out)
    with contextlib.suppress(FileNotFoundError):
        _resume(out).unlink()
    update(written)
    return written
