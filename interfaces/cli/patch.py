"""`vibehq patch apply FILE`: a patch file in any format an agent writes, from the shell.

The file is one `apply_patch` (the envelope or a multi-file diff), submitted against the
workspace's current version with an idempotency key made from the file's hash and that
version: a retry against the same version (after a lost answer) replays the first
outcome instead of recording twice; once the workspace has moved on, the file is decided
afresh (an already applied one is then refused: its files exist or its lines differ).
`--check` decides it and records nothing.
Prints one line per file, as `git apply --stat` does.
"""

from __future__ import annotations

import getpass
import hashlib
from pathlib import Path
from typing import Annotated
from uuid import UUID, uuid4

import typer

from application.aggregates import CommandContext
from domain.contracts import ApplyPatch, FileChange, PatchSubmission, Tolerance
from infrastructure.settings import Settings
from interfaces.cli.common import (
    fail,
    resolve_workspace,
    run_command,
    runtime_for,
    settings,
)

patch_app = typer.Typer(
    help=(
        "Patches from files: the apply_patch envelope or a (multi-file) git diff, applied "
        "all or nothing, or checked with `--check`."
    ),
    no_args_is_help=True,
)


class Outcome:
    def __init__(
        self,
        applied: bool,
        changes: list[FileChange],
        tolerances: list[Tolerance],
        detail: str,
        replayed: bool = False,
    ) -> None:
        self.applied = applied
        self.changes = changes
        self.tolerances = tolerances
        self.detail = detail
        self.replayed = replayed


async def _apply(
    config: Settings, text: str, workspace: str, *, check: bool, task: str, author: str
) -> Outcome:
    async with runtime_for(config) as runtime:
        target: UUID = await resolve_workspace(runtime, workspace)
        version = (await runtime.services.queries.summary(target, None)).version
        submission = PatchSubmission(
            workspace_id=target,
            base_version=version,
            author=author,
            task_id=task,
            idempotency_key=f"file-{hashlib.sha256(text.encode()).hexdigest()[:32]}-v{version}",
            operations=[ApplyPatch(patch=text)],
            message="vibehq patch apply",
        )
        # The operator at the shell reaches the database directly: an admin, whoever
        # owns the workspace (docs/security.md).
        context = CommandContext(actor=author, correlation_id=uuid4(), admin=True)
        if check:
            preview = await runtime.services.previews.preview(submission, context)
            return Outcome(
                preview.outcome == "applied",
                preview.changes,
                preview.tolerances,
                preview.detail or "",
            )
        record = await runtime.services.patches.submit(submission, context)
        return Outcome(
            record.outcome == "applied",
            record.changes,
            record.tolerances,
            record.detail or "",
            record.duplicate,
        )


def _stat(change: FileChange) -> str:
    name = f"{change.renamed_from} => {change.path}" if change.renamed_from else change.path
    counts = "Bin" if change.binary else f"+{change.lines_added} -{change.lines_removed}"
    return f" {name} | {counts} ({change.change})"


@patch_app.command("apply")
def apply(
    file: Annotated[Path, typer.Argument(help="The patch file (envelope or diff).")],
    workspace: Annotated[
        str, typer.Option(help="The workspace id, or its start as `workspace list` prints it.")
    ],
    check: Annotated[
        bool, typer.Option("--check", help="Say what would happen; record nothing.")
    ] = False,
    task: Annotated[str, typer.Option(help="The task id to record it under.")] = "cli",
    author: Annotated[str | None, typer.Option(help="Who wrote it. Default: you.")] = None,
) -> None:
    """Apply a patch file to a workspace, all of it or nothing (exit 1 if refused)."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"cannot read {file}: {getattr(error, 'strerror', None) or error}", 2)
    if not text.strip():
        fail(f"{file} is empty", 2)
    config = settings()
    who = author or f"cli:{getpass.getuser()}"
    outcome = run_command(
        lambda: _apply(config, text, workspace, check=check, task=task, author=who)
    )
    for change in outcome.changes:
        typer.echo(_stat(change))
    for tolerance in outcome.tolerances:
        typer.echo(
            f" note: {tolerance.path} part {tolerance.part}: {tolerance.kind} {tolerance.detail}"
        )
    if not outcome.applied:
        fail(("would be refused: " if check else "refused: ") + outcome.detail)
    verb = "would apply" if check else "already applied" if outcome.replayed else "applied"
    typer.echo(f"{verb}: {len(outcome.changes)} file(s)")
