"""`vibehq demo`: the main job, end to end, for a newcomer.

Starts the real service (HTTP on the configured or embedded engines) in this process,
then plays three factories against one workspace over HTTP, through the factories'
own client (interfaces/client): two patches apply, one is rejected as a conflict, one
is reverted. Prints each step and where to look next.
"""

from __future__ import annotations

import asyncio
import textwrap
from datetime import UTC, datetime
from uuid import UUID

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table

from application.access import TokenService
from domain.contracts import (
    ApplyDiff,
    CheckRun,
    Cost,
    EditFile,
    PatchRecord,
    SearchReplace,
)
from infrastructure.settings import Settings
from interfaces.client import ApiError, PatchRejected, VibeClient
from interfaces.command_resources import token_service
from interfaces.http.app import create_app

CART = textwrap.dedent(
    """\
    def total(prices: list[float]) -> float:
        return sum(prices)
    """
)
README = "# Demo shop\n\nA shop that AI factories build.\n"

DISCOUNT_EDIT = EditFile(
    path="src/shop/cart.py",
    edits=[
        SearchReplace(
            search="    return sum(prices)\n",
            replace=(
                "    return sum(prices)\n\n\n"
                "def with_discount(amount: float, percent: float) -> float:\n"
                "    return round(amount * (1 - percent / 100), 2)\n"
            ),
        )
    ],
)
README_DIFF = (
    "--- a/README.md\n+++ b/README.md\n@@ -1,3 +1,5 @@\n # Demo shop\n \n"
    " A shop that AI factories build.\n+\n+Run the tests with `pytest`.\n"
)
STALE_EDIT = EditFile(
    path="src/shop/cart.py",
    edits=[SearchReplace(search="return sum(prices)", replace="return float(sum(prices))")],
)


async def run_demo(settings: Settings, console: Console, *, port: int, keep: bool) -> None:
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings),
            host=settings.host,
            port=port,
            log_level="warning",
            ws="websockets-sansio",
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
            raise RuntimeError("the server stopped during start-up")
        await asyncio.sleep(0.05)
    bound = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://{settings.host}:{bound}"
    try:
        async with token_service(settings) as tokens:
            workspace_id = await _play(base, tokens, console)
        _where_to_look(console, base, workspace_id, keep)
        if keep:
            await serving
    finally:
        server.should_exit = True
        await serving


class _Transcript:
    """Prints each call as `METHOD /path -> status`, then what came of it."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.last = ""

    async def heard(self, response: httpx.Response) -> None:
        request = response.request
        self.last = f"{request.method} {request.url.path} -> {response.status_code}"

    def said(self, detail: str = "") -> None:
        self.console.print(f"{self.last}  {detail}" if detail else self.last)

    def refused(self, error: ApiError) -> None:
        reason = error.problem.get("reason") or error.problem.get("title")
        self.console.print(f"{self.last}  [yellow]{reason}[/]")
        self.console.print(f"  {error.problem.get('detail', '')}", markup=False)

    def applied(self, record: PatchRecord) -> None:
        changes = ", ".join(f"{c.path} ({c.change})" for c in record.changes)
        self.said(f"[green]{record.outcome}[/] at version {record.version}: {changes}")


async def _client(
    base: str, tokens: TokenService, actor: str, transcript: _Transcript
) -> VibeClient:
    issued = await tokens.issue(
        actor=actor, kind="factory", scopes=["write"], name="demo", now=datetime.now(UTC)
    )
    return VibeClient(base, issued.secret, on_response=transcript.heard)


async def _play(base: str, tokens: TokenService, console: Console) -> str:
    say = _Transcript(console)
    agent = await _client(base, tokens, "agent-factory", say)
    ui = await _client(base, tokens, "ui-factory", say)
    data = await _client(base, tokens, "data-factory", say)
    try:
        console.rule("[bold]1. agent-factory creates a workspace with three files")
        created = await agent.create_workspace(
            "demo-shop",
            {
                "src/shop/cart.py": CART,
                "tests/test_cart.py": "from shop.cart import total\n",
                "README.md": README,
            },
        )
        say.said()
        ws = created.id
        console.print(f"workspace {ws} is at version {created.version}")
        # A workspace is its creator's: the others may touch it once it lets them.
        for teammate in ("ui-factory", "data-factory"):
            granted = await agent.grant(ws, teammate, "write")
            say.said()
        console.print(f"ui-factory and data-factory may now write to it: {granted.grants}")

        console.rule("[bold]2. agent-factory adds a discount function (edit_file)")
        first = await agent.submit(
            ws, [DISCOUNT_EDIT], base_version=granted.version, task_id="task-discount"
        )
        say.applied(first)

        console.rule("[bold]3. ui-factory documents the tests (apply_diff, unified diff)")
        second = await ui.submit(
            ws,
            [ApplyDiff(path="README.md", diff=README_DIFF)],
            base_version=first.version,
            task_id="task-docs",
        )
        say.applied(second)

        console.rule("[bold]4. data-factory edits cart.py against an old version")
        try:
            await data.submit(ws, [STALE_EDIT], base_version=granted.version, task_id="task-types")
        except PatchRejected as rejected:
            say.refused(rejected)

        console.rule("[bold]5. ui-factory reverts its README change")
        reverted = await ui.revert(second.patch_id, task_id="task-docs")
        say.said(f"[green]reverted[/] as patch {reverted.patch_id} (version {reverted.version})")

        console.rule("[bold]History")
        table = Table("version", "outcome", "author", "task", "+/-", "detail")
        for record in await agent.history(ws):
            table.add_row(
                str(record.version),
                record.outcome,
                record.author,
                record.task_id,
                f"+{record.lines_added}/-{record.lines_removed}",
                record.reason or ", ".join(c.path for c in record.changes),
            )
        console.print(table)
        console.rule("[bold]Diff from version 2 to now")
        console.print(await agent.diff(ws, since=2), markup=False, highlight=False)
        await _deliver_and_report(agent, ws, first.version, say)
        return str(ws)
    finally:
        for client in (agent, ui, data):
            await client.close()


async def _deliver_and_report(agent: VibeClient, ws: UUID, version: int, say: _Transcript) -> None:
    """Checks, a delivery and an ops error: what the projections make of them."""
    console = say.console
    console.rule("[bold]6. agent-factory reports checks and delivers task-discount")
    await agent.report_checks(
        "task-discount",
        [
            CheckRun(name="pytest", status="passed", duration_ms=5400),
            CheckRun(name="ruff", status="passed", duration_ms=300),
        ],
    )
    say.said()
    delivered = await agent.deliver(
        "task-discount",
        workspace_id=ws,
        final_version=version,
        summary="Adds discount()",
        cost=Cost(input_tokens=5200, output_tokens=800, usd=0.03),
    )
    say.said()
    report = await agent.delivery_report("task-discount", after_position=delivered.position)
    table = Table("factory", "status", "applied", "files", "+/-", "checks", "delivered at v")
    for part in report.factories:
        table.add_row(
            part.factory,
            part.status,
            str(part.patches_applied),
            str(part.files_touched),
            f"+{part.lines_added}/-{part.lines_removed}",
            ", ".join(f"{c.name} {c.status}" for c in part.checks),
            str(part.delivery.final_version) if part.delivery else "-",
        )
    console.print(table)

    console.rule("[bold]7. the build service reports an error: an incident opens")
    error = await agent.report_event(
        "build-service", "build_failed", "error", "docker build exited 2"
    )
    if error.incident_opened:
        say.said(f"incident {error.incident_id} opened")
    else:
        say.said(f"incident {error.incident_id} was already open (an earlier run): it joins")
    latest = error.incident_recorded or error.recorded  # the opening comes last
    overview = await agent.ops_overview(after_position=latest.position)
    for source in overview.sources:
        console.print(f"  {source.source}: [bold]{source.health}[/] ({source.reason})")
    for lag in overview.followers:
        console.print(f"  follower {lag.name}: {lag.lag_events} event(s) behind")


def _where_to_look(console: Console, base: str, ws: str, keep: bool) -> None:
    console.rule("[bold]Where to look")
    console.print(
        f"  events of the workspace  GET {base}/workspaces/{ws}/events\n"
        f"  delivery report          GET {base}/tasks/task-discount/delivery-report\n"
        f"  ops overview             GET {base}/ops/overview\n"
        f"  live patch feed          {base.replace('http', 'ws')}/ws/workspaces/{ws}?token=…\n"
        f"  files now / at v3        GET {base}/workspaces/{ws}/files?at=3\n"
        f"  API docs                 {base}/schema\n"
        f"  the raw log              table vibehq_events in PostgreSQL\n"
        + (
            "Serving until Ctrl-C (the admin token is in the data folder's dev-token file)."
            if keep
            else "Run `bash .ci/dev serve` (or `vibehq serve`) to keep exploring this data."
        ),
        markup=False,
    )
