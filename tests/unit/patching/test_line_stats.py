"""Line counts stay near-linear, equal a line diff's where that is affordable, and a
large patch is decided off the event loop."""

from __future__ import annotations

import asyncio
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.contracts import WriteFile
from domain.patching.text import line_stats, split_lines
from tests.unit.test_patch_manager import Harness, context


def common(old: list[str], new: list[str]) -> int:
    """The longest common subsequence's length (what a minimal line diff keeps)."""
    row = [0] * (len(new) + 1)
    for line in old:
        previous = 0
        for j, other in enumerate(new, 1):
            previous, row[j] = row[j], previous + 1 if line == other else max(row[j], row[j - 1])
    return row[-1]


texts = st.lists(st.sampled_from(["a\n", "b\n", "c\n", "d", "\n"]), max_size=40).map("".join)


@settings(max_examples=500, deadline=None)
@given(before=texts, after=texts)
def test_counts_describe_a_real_diff_never_smaller_than_a_minimal_one(
    before: str, after: str
) -> None:
    old, new = split_lines(before), split_lines(after)
    added, removed = line_stats(before, after)
    assert added - removed == len(new) - len(old)
    assert removed >= len(old) - common(old, new)


def test_a_large_scattered_rewrite_is_counted_in_linear_time() -> None:
    before = "".join(f"line {n}\n" for n in range(30_000))
    after = "".join(f"line {n}\n" if n % 3 else f"changed {n}\n" for n in range(30_000))
    started = time.process_time()
    assert line_stats(before, after) == (10_000, 10_000)
    # difflib took ~50 s of CPU on this input; the bound is generous, not a benchmark
    assert time.process_time() - started < 5


async def test_a_large_patch_is_decided_without_holding_up_the_event_loop() -> None:
    h = Harness()
    big = "".join(f"row {n} of the table\n" for n in range(40_000))
    ws = await h.workspace(table=big)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.01)
    before = ticks
    rewrite = big.replace("0 of", "0 OF")  # every tenth line: ~4,000 scattered changes
    await h.manager.submit(h.submission(ws, 2, WriteFile(path="table", content=rewrite)), context())
    during = ticks - before
    ticker.cancel()
    assert during >= 3, f"the event loop ran {during} times while the patch was decided"
