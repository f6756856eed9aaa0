"""Exactness with processes that die: four processes of eight callers each hammer one
hot key (a rate and a weighted quota checked together), and two are killed (SIGKILL)
mid-run. No admission goes over the GCRA bound measured on the database clock, the
quota's stored use never passes its limit, and the survivors keep being admitted (a
killed caller's locks die with its connections)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from uuid import uuid4

import asyncpg
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(120)

PROCESSES, CALLERS, SECONDS = 4, 8, 4.0


async def _clock(pool: asyncpg.Pool) -> float:
    moment: float = await pool.fetchval("SELECT extract(epoch FROM clock_timestamp())::float8")
    return moment


def _start(database_url: str, key: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "tests.integration.limit_caller",
            database_url, key, str(CALLERS), str(SECONDS),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip


async def test_killed_callers_neither_loosen_nor_stall_a_shared_limit(
    database_url: str, pool: asyncpg.Pool
) -> None:
    key = f"soak-{uuid4().hex}"
    began = await _clock(pool)
    processes = [_start(database_url, key) for _ in range(PROCESSES)]
    await asyncio.sleep(1.5)
    processes[0].send_signal(signal.SIGKILL)
    await asyncio.sleep(1.0)
    processes[1].send_signal(signal.SIGKILL)
    last_kill = time.time()
    outputs = [await asyncio.to_thread(p.communicate, timeout=60) for p in processes]
    elapsed = await _clock(pool) - began
    admissions = [[_admission(line) for line in out.splitlines()] for out, _ in outputs]
    admitted = sum(len(a) for a in admissions)
    # The rate: 40/s with bursts of 10, over the run (+1 for the edges of the clock).
    bound = 10 + 40 * elapsed
    assert admitted <= bound + 1, (admitted, bound)
    used = await pool.fetchval(
        "SELECT coalesce(sum(used), 0) FROM vibehq_rate_quota WHERE key = $1",
        f"soak-quota:{key}",
    )
    assert used <= 400  # never over the quota, whoever died holding what
    assert sum(cost for a in admissions for cost, _ in a) <= used  # each one was stored
    assert [p.returncode for p in processes] == [-signal.SIGKILL, -signal.SIGKILL, 0, 0]
    # The survivors went on being admitted after the kills: no lock outlived its caller.
    after = [at for a in admissions[2:] for _, at in a if at > last_kill + 0.2]
    assert after, "nothing was admitted after the second kill"
    assert admitted >= 0.5 * bound or used >= 400 - 4  # it was saturated, not starved


def _admission(line: str) -> tuple[float, float]:
    cost, at = line.split()
    return float(cost), float(at)
