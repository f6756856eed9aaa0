"""`vibehq demo`: the main job, end to end, for a newcomer.

Starts the real service (HTTP on the configured or embedded engines) in this process,
then plays three factories against one workspace over HTTP: two patches apply, one
is rejected as a conflict, one is reverted. Prints each step and where to look next.
"""

from __future__ import annotations

import asyncio
import textwrap
from datetime import UTC, datetime
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table

from application.access import TokenService
from infrastructure.settings import Settings
from interfaces.composition import token_service
from interfaces.http.app import create_app

CART = textwrap.dedent(
    """\
    def total(prices: list[float]) -> float:
        return sum(prices)
    """
)
README = "# Demo shop\n\nA shop that AI factories build.\n"

DISCOUNT_EDIT = {
    "op": "edit_file",
    "path": "src/shop/cart.py",
    "edits": [
        {
            "search": "    return sum(prices)\n",
            "replace": (
                "    return sum(prices)\n\n\n"
                "def with_discount(amount: float, percent: float) -> float:\n"
                "    return round(amount * (1 - percent / 100), 2)\n"
            ),
        }
    ],
}
README_DIFF = (
    "--- a/README.md\n+++ b/README.md\n@@ -1,3 +1,5 @@\n # Demo shop\n \n"
    " A shop that AI factories build.\n+\n+Run the tests with `pytest`.\n"
)
STALE_EDIT = {
    "op": "edit_file",
    "path": "src/shop/cart.py",
    "edits": [{"search": "return sum(prices)", "replace": "return float(sum(prices))"}],
}


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


async def _client(base: str, tokens: TokenService, actor: str) -> httpx.AsyncClient:
    issued = await tokens.issue(
        actor=actor, kind="factory", scopes=["write"], name="demo", now=datetime.now(UTC)
    )
    return httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {issued.secret}"}, timeout=30
    )


async def _play(base: str, tokens: TokenService, console: Console) -> str:
    agent = await _client(base, tokens, "agent-factory")
    ui = await _client(base, tokens, "ui-factory")
    data = await _client(base, tokens, "data-factory")
    try:
        console.rule("[bold]1. agent-factory creates a workspace with three files")
        created = await _call(
            agent.post(
                "/workspaces",
                json={
                    "name": "demo-shop",
                    "files": [
                        {"path": "src/shop/cart.py", "content": CART},
                        {"path": "tests/test_cart.py", "content": "from shop.cart import total\n"},
                        {"path": "README.md", "content": README},
                    ],
                },
            ),
            console,
        )
        ws = created["id"]
        console.print(f"workspace {ws} is at version {created['version']}")
        # A workspace is its creator's: the others may touch it once it lets them.
        for teammate in ("ui-factory", "data-factory"):
            granted = await _call(
                agent.post(f"/workspaces/{ws}/grants", json={"actor": teammate, "access": "write"}),
                console,
            )
        console.print(f"ui-factory and data-factory may now write to it: {granted['grants']}")
        created = {**created, "version": granted["version"]}

        console.rule("[bold]2. agent-factory adds a discount function (edit_file)")
        first = await _submit(
            agent, ws, created["version"], "task-discount", DISCOUNT_EDIT, console
        )

        console.rule("[bold]3. ui-factory documents the tests (apply_diff, unified diff)")
        second = await _submit(
            ui,
            ws,
            first["version"],
            "task-docs",
            {"op": "apply_diff", "path": "README.md", "diff": README_DIFF},
            console,
        )

        console.rule("[bold]4. data-factory edits cart.py against an old version")
        await _submit(data, ws, created["version"], "task-types", STALE_EDIT, console)

        console.rule("[bold]5. ui-factory reverts its README change")
        await _call(
            ui.post(f"/patches/{second['patch_id']}/revert", json={"task_id": "task-docs"}),
            console,
            show=lambda r: f"[green]reverted[/] as patch {r['patch_id']} (version {r['version']})",
        )

        console.rule("[bold]History")
        history = (await agent.get(f"/workspaces/{ws}/patches")).json()["items"]
        table = Table("version", "outcome", "author", "task", "+/-", "detail")
        for record in history:
            table.add_row(
                str(record["version"]),
                record["outcome"],
                record["author"],
                record["task_id"],
                f"+{record['lines_added']}/-{record['lines_removed']}",
                record.get("reason") or ", ".join(c["path"] for c in record["changes"]),
            )
        console.print(table)
        console.rule("[bold]Diff from version 2 to now")
        diff = await agent.get(f"/workspaces/{ws}/diff", params={"from": "2"})
        console.print(diff.text, markup=False, highlight=False)
        await _deliver_and_report(agent, ws, first["version"], console)
        return str(ws)
    finally:
        for client in (agent, ui, data):
            await client.aclose()


async def _deliver_and_report(
    agent: httpx.AsyncClient, ws: str, version: int, console: Console
) -> None:
    """Checks, a delivery and an ops error: what the projections make of them."""
    console.rule("[bold]6. agent-factory reports checks and delivers task-discount")
    await _call(
        agent.post(
            "/tasks/task-discount/checks",
            json={
                "checks": [
                    {"name": "pytest", "status": "passed", "duration_ms": 5400},
                    {"name": "ruff", "status": "passed", "duration_ms": 300},
                ]
            },
        ),
        console,
    )
    delivered = await _call(
        agent.post(
            "/tasks/task-discount/deliver",
            json={
                "summary": "Adds discount()",
                "workspace_id": ws,
                "final_version": version,
                "cost": {"input_tokens": 5200, "output_tokens": 800, "usd": 0.03},
            },
        ),
        console,
    )
    report = (
        await agent.get(
            "/tasks/task-discount/delivery-report",
            params={"after_position": delivered["position"]},
        )
    ).json()
    table = Table("factory", "status", "applied", "files", "+/-", "checks", "delivered at v")
    for part in report["factories"]:
        table.add_row(
            part["factory"],
            part["status"],
            str(part["patches_applied"]),
            str(part["files_touched"]),
            f"+{part['lines_added']}/-{part['lines_removed']}",
            ", ".join(f"{c['name']} {c['status']}" for c in part["checks"]),
            str(part["delivery"]["final_version"]) if part["delivery"] else "-",
        )
    console.print(table)

    console.rule("[bold]7. the build service reports an error: an incident opens")
    error = await _call(
        agent.post(
            "/ops/events",
            json={
                "source": "build-service",
                "kind": "build_failed",
                "severity": "error",
                "message": "docker build exited 2",
            },
        ),
        console,
        show=_incident,
    )
    latest = error["incident_recorded"] or error["recorded"]  # the opening comes last
    overview = (
        await agent.get("/ops/overview", params={"after_position": latest["position"]})
    ).json()
    for source in overview["sources"]:
        console.print(f"  {source['source']}: [bold]{source['health']}[/] ({source['reason']})")
    for lag in overview["followers"]:
        console.print(f"  follower {lag['name']}: {lag['lag_events']} event(s) behind")


def _incident(recorded: dict[str, Any]) -> str:
    if recorded["incident_opened"]:
        return f"incident {recorded['incident_id']} opened"
    return f"incident {recorded['incident_id']} was already open (an earlier run): it joins"


async def _submit(
    client: httpx.AsyncClient, ws: str, base: int, task: str, op: dict[str, Any], console: Console
) -> dict[str, Any]:
    return await _call(
        client.post(
            f"/workspaces/{ws}/patches",
            json={"base_version": base, "task_id": task, "operations": [op]},
        ),
        console,
    )


async def _call(request: Any, console: Console, show: Any = None) -> dict[str, Any]:
    response: httpx.Response = await request
    body: dict[str, Any] = response.json()
    line = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    if response.status_code >= 400:
        console.print(f"{line}  [yellow]{body.get('reason', body.get('title'))}[/]")
        console.print(f"  {body['detail']}", markup=False)
    elif show is not None:
        console.print(f"{line}  {show(body)}")
    elif "outcome" in body:
        changes = ", ".join(f"{c['path']} ({c['change']})" for c in body["changes"])
        console.print(
            f"{line}  [green]{body['outcome']}[/] at version {body['version']}: {changes}"
        )
    else:
        console.print(line)
    return body


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
