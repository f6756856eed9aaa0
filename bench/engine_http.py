"""`apply_patch` through HTTP, as a factory sends it, next to `git apply` on the same change.

A server runs in the benchmark's process on the benchmark's PostgreSQL (no followers:
they would only add noise). For each input and run, a fresh workspace holds the files
before; the timed request is one `POST /workspaces/{id}/patches` carrying the whole
`git diff` as one `apply_patch`, answered 201 once it is recorded.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from dataclasses import dataclass

import httpx

from bench.engine import git_change, one_large_file, three_hundred_files
from bench.in_process import serving_in_process
from infrastructure.settings import Settings


@dataclass
class HttpApply:
    name: str
    size: int
    http_ms: float
    git_apply_ms: float


async def http_apply(database_url: str, nats_url: str, runs: int) -> list[HttpApply]:
    inputs = [
        ("300 files, 2 hunks each", git_change(three_hundred_files(random.Random(25)), 2, runs)),
        ("one 1 MB file, 20 hunks", git_change(one_large_file(random.Random(15)), 20, runs)),
    ]
    settings = Settings(
        database_url=database_url,
        nats_url=nats_url,
        nats_prefix=f"bench{uuid.uuid4().hex[:6]}",
        auth="off",
        background="off",
    )
    figures = []
    async with (
        serving_in_process(settings) as base,
        httpx.AsyncClient(base_url=base, timeout=120) as client,
    ):
        for name, change in inputs:
            if change is None:
                continue
            files = [{"path": p, "content": t} for p, t in change.before.items()]
            times = []
            for _ in range(runs):
                created = await client.post("/workspaces", json={"name": name, "files": files})
                created.raise_for_status()
                body = {
                    "base_version": created.json()["version"],
                    "task_id": "bench",
                    "operations": [{"op": "apply_patch", "patch": change.diff}],
                }
                started = time.perf_counter()
                answer = await client.post(f"/workspaces/{created.json()['id']}/patches", json=body)
                times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 201, answer.text
            figures.append(
                HttpApply(name, len(change.diff), statistics.median(times), change.git_apply_ms)
            )
    return figures


def http_apply_table(figures: list[HttpApply]) -> str:
    return "\n".join(
        [
            "| change (as one `apply_patch`) | diff bytes | through HTTP (ms) | git apply (ms) "
            "| HTTP / git apply |",
            "| --- | --- | --- | --- | --- |",
            *(
                f"| {f.name} | {f.size:,} | {f.http_ms:.0f} | {f.git_apply_ms:.0f} "
                f"| {f.http_ms / f.git_apply_ms:.2f}x |"
                for f in figures
            ),
        ]
    )
