"""Inputs built to be slow: how the patch engine's cost grows on them, as ratios.

Each case replaces one 20,000-line file whole (`write_file`) with content made to
defeat a line diff: one line repeated (every line matches every other), every line
changed, the same lines in another order. The engine counts the lines added and
removed for every change; a quadratic diff took 30 s on the first case. The baseline
is the same `write_file` creating a file of the same size (nothing to compare), in
the same run: the ratio says what comparing costs on top of writing.
"""

from __future__ import annotations

import random
from functools import partial

from msgspec import Struct

from bench.engine import median_ms
from domain.contracts import WriteFile
from domain.patching.engine import plan_patch
from domain.patching.files import entry_for
from domain.patching.limits import PatchLimits

LINES = 20_000


class Adversarial(Struct, frozen=True):
    case: str
    ms: float
    baseline_ms: float


def _cases(rng: random.Random) -> dict[str, tuple[str, str]]:
    distinct = [f"line {n} {rng.random():.6f}\n" for n in range(LINES)]
    shuffled = distinct[:]
    rng.shuffle(shuffled)
    return {
        "one line repeated, one changed": ("a\n" * LINES, "a\n" * (LINES - 1) + "b\n"),
        "every line changed": ("".join(distinct), "".join(f"x{line}" for line in distinct)),
        "the same lines shuffled": ("".join(distinct), "".join(shuffled)),
    }


def adversarial_inputs(runs: int, seed: int = 16) -> list[Adversarial]:
    limits = PatchLimits()
    figures = []
    for case, (before, after) in _cases(random.Random(seed)).items():
        data = before.encode()
        entry = entry_for(data, "100644")
        tree = {"f.txt": entry}
        contents = {entry.sha256: data}
        replace = partial(plan_patch, tree, [WriteFile(path="f.txt", content=after)])
        create = partial(plan_patch, tree, [WriteFile(path="g.txt", content=after)])
        figures.append(
            Adversarial(
                case,
                median_ms(partial(replace, contents, limits), runs),
                median_ms(partial(create, contents, limits), runs),
            )
        )
    return figures


def adversarial_table(figures: list[Adversarial]) -> str:
    return "\n".join(
        [
            f"| {LINES:,}-line file replaced whole | ms | ms creating it instead | ratio |",
            "| --- | --- | --- | --- |",
            *(
                f"| {f.case} | {f.ms:.1f} | {f.baseline_ms:.1f} | {f.ms / f.baseline_ms:.1f}x |"
                for f in figures
            ),
        ]
    )
