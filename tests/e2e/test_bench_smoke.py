"""The benchmark still runs end to end (`--smoke`: tiny time boxes; numbers not judged)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from infrastructure.embedded.engines import Engines
from tests.conftest import ROOT


def bench(engines: Engines, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m bench ARGS` on the test engines."""
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={
            **os.environ,
            "VIBEHQ_DATABASE_URL": engines.database_url,
            "VIBEHQ_NATS_URL": engines.nats_url,
        },
    )


def test_bench_smoke_prints_every_figure_with_its_ratios(engines: Engines) -> None:
    result = bench(engines, "--smoke")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| append")]
    assert len(rows) == 3
    assert all(re.search(r"\| \d+\.\d+x", line) for line in rows)  # a ratio to a baseline
    # one-event rows: the ratio as shipped and, in brackets, with each append alone
    assert all(re.search(r"\d+\.\d+x \(\d+\.\d+x\)", line) for line in rows[:2])
    fanout = [line for line in result.stdout.splitlines() if line.startswith("| commit ->")]
    assert len(fanout) == 2  # to a NATS subscriber and to a WebSocket client
    assert any(line.startswith("| submissions/s") for line in result.stdout.splitlines())
    assert any("peak RSS of the server" in line for line in result.stdout.splitlines())
    # where the load's CPU went, by part, each part with its own figure
    cpu = [line for line in result.stdout.splitlines() if line.startswith("| CPU per submission (")]
    assert len(cpu) == 1
    names, values = (cell.strip() for cell in cpu[0].split("|")[1:3])
    parts = names.split(": ", 1)[1].split(" / ")
    assert "load client" in parts
    assert re.fullmatch(r"\d+\.\d\d( / \d+\.\d\d)*", values)
    assert len(values.split(" / ")) == len(parts)
    # the patch engine next to GNU patch, on both large inputs, as a ratio
    engine = [line for line in result.stdout.splitlines() if "bytes) |" in line]
    assert len(engine) == 3  # 10,000 lines; 1 MB; a 300-file git diff
    assert all(re.search(r"\d+\.\d\dx / \d+\.\d\dx \|$", line) for line in engine)
    # apply_patch through HTTP, next to git apply, for both changes
    through_http = [line for line in result.stdout.splitlines() if "hunks each |" in line]
    through_http += [line for line in result.stdout.splitlines() if "1 MB file, 20 hunks |" in line]
    assert len(through_http) == 2
    assert all(re.search(r"\| \d+\.\d\dx \|$", line) for line in through_http)


def test_bench_scale_measures_every_figure(engines: Engines) -> None:
    """`python -m bench scale` on a tiny partitioned log (the plain one differs only in
    not being partitioned): every figure, with the ratio column of the largest size to
    the smallest (one size here: the numbers are not judged)."""
    result = bench(
        engines, "scale", "--events", "300",
        "--layout", "partitioned", "--partition-transactions", "64",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert lines[0] == "| figure | 300 events, partitioned | largest / smallest |"
    rows = lines[2:]
    names = [row.split(" | ")[0].removeprefix("| ") for row in rows]
    for figure in (
        "append, 8 writers (events/s)",
        "submit, big workspace (ms)",
        "WAL per submit, after a checkpoint (KB)",
        "catch-up alone, relay (events/s)",
        "catch-up alone, ops (events/s)",
        "events table per event (B)",
        "verify, peak RSS (MB)",
        "verify --jobs 2 (events/s)",
        "export file per event (B)",
        "import (events/s)",
    ):
        assert figure in names, names
    assert all(re.search(r"\| [\d,.]+ \| 1\.00x \|$", row) for row in rows), rows
