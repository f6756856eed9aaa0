"""The patch engine on large inputs, next to GNU `patch` and `git apply` on the same input.

For each input: a text, an edit of it, and the unified diff between them. `ours` is
`apply_diff` through the whole engine (`plan_patch`: parse, locate every hunk, apply,
hash, count lines added and removed); `parse + apply` leaves out the hashing and the
line counts. GNU `patch` runs as a process on files in a temporary folder, so its time
includes starting it (that is how a tool would use it). For a 300-file `git diff` sent
as one `apply_patch`, the baseline is `git apply` in a real repository (less the time
to check the files out again), and "parse + apply" is the parsing alone. The ratio is
ours / the baseline.
"""

from __future__ import annotations

import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from domain.contracts import ApplyDiff, ApplyPatch
from domain.patching.engine import plan_patch
from domain.patching.files import entry_for
from domain.patching.limits import PatchLimits
from domain.patching.patch_text import _parsed
from domain.patching.unified_diff import apply_hunks, parse_diff, unified_diff


@dataclass
class EngineFigure:
    name: str
    size: int
    hunks: int
    ours_ms: float
    apply_ms: float
    patch_ms: float | None


def _text(lines: int, width: int, rng: random.Random) -> list[str]:
    alphabet = "abcdefghijklmnopqrstuvwxyz     "
    return [f"{n:06d} " + "".join(rng.choices(alphabet, k=width)) + "\n" for n in range(lines)]


def _edited(lines: list[str], hunks: int, rng: random.Random) -> list[str]:
    after = list(lines)
    step = len(lines) // hunks
    for n in range(hunks):
        at = n * step + rng.randint(0, step - 4)
        after[at] = after[at].upper()
        after.insert(at + 2, f"inserted {n}\n")
    return after


def _parse_and_apply(before: str, diff: str) -> str:
    return apply_hunks(before, parse_diff(diff, "f").hunks, "f")[0]


def median_ms(work: Callable[[], object], runs: int) -> float:
    """The median of `runs` timings of `work()`, in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _gnu_patch_ms(before: str, diff: str, runs: int) -> float | None:
    binary = shutil.which("patch")
    if binary is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        original, changes = Path(folder) / "f", Path(folder) / "f.diff"
        original.write_text(before)
        changes.write_text(diff)
        out = Path(folder) / "out"
        command = [binary, "-s", "-o", str(out), str(original), str(changes)]
        return median_ms(lambda: subprocess.run(command, check=True), runs)


def engine_vs_patch(runs: int) -> list[EngineFigure]:
    rng = random.Random(15)
    figures = []
    for name, lines, width, hunks in (
        ("10,000 lines, 50 hunks", 10_000, 40, 50),
        ("1 MB, 20 hunks", 16_000, 58, 20),
    ):
        before_lines = _text(lines, width, rng)
        after_lines = _edited(before_lines, hunks, rng)
        before, after = "".join(before_lines), "".join(after_lines)
        diff = unified_diff(before, after, old_name="a/f", new_name="b/f")
        content = before.encode()
        entry = entry_for(content, "100644")
        ours = partial(
            plan_patch,
            {"f": entry},
            [ApplyDiff(path="f", diff=diff)],
            {entry.sha256: content},
            PatchLimits(),
        )
        apply_only = partial(_parse_and_apply, before, diff)
        assert len(ours().changes) == 1
        assert apply_only() == after
        figures.append(
            EngineFigure(
                name,
                len(content),
                hunks,
                ours_ms=median_ms(ours, runs),
                apply_ms=median_ms(apply_only, runs),
                patch_ms=_gnu_patch_ms(before, diff, runs),
            )
        )
    multi = multi_file_vs_git(runs)
    if multi is not None:
        figures.append(multi)
    return figures


def engine_table(figures: list[EngineFigure]) -> str:
    rows = []
    for figure in figures:
        patch = f"{figure.patch_ms:.1f}" if figure.patch_ms is not None else "- (not installed)"
        ratio = (
            f"{figure.ours_ms / figure.patch_ms:.2f}x / {figure.apply_ms / figure.patch_ms:.2f}x"
            if figure.patch_ms
            else "-"
        )
        rows.append(
            f"| {figure.name} ({figure.size:,} bytes) | {figure.ours_ms:.1f} | "
            f"{figure.apply_ms:.1f} | {patch} | {ratio} |"
        )
    return "\n".join(
        [
            "| input | ours, whole engine (ms) | ours, parse + apply (ms) "
            "| GNU patch / git apply (ms) | ours / baseline (whole / parse + apply) |",
            "| --- | --- | --- | --- | --- |",
            *rows,
        ]
    )


@dataclass
class GitChange:
    """A change made in a real repository: the files before, `git diff`, and how long
    `git apply` takes to make it (less checking the files out again)."""

    before: dict[str, str]
    diff: str
    git_apply_ms: float


def three_hundred_files(rng: random.Random, files: int = 300) -> dict[str, str]:
    return {f"src/m{n:03d}.py": "".join(_text(60, 30, rng)) for n in range(files)}


def one_large_file(rng: random.Random) -> dict[str, str]:
    return {"data/large.txt": "".join(_text(16_000, 58, rng))}


def git_change(before: dict[str, str], hunks: int, runs: int, seed: int = 25) -> GitChange | None:
    """Edit every file of `before` in `hunks` places, in a repository, and time git apply."""
    git = shutil.which("git")
    if git is None:
        return None
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as folder:
        repo = Path(folder) / "repo"
        repo.mkdir()
        for path, text in before.items():
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            (repo / path).write_text(text)
        run = partial(subprocess.run, cwd=repo, check=True, capture_output=True)
        run([git, "init", "-q"])
        run([git, "add", "-A"])
        run([git, "-c", "user.email=b@b", "-c", "user.name=b", "commit", "-qm", "base"])
        for path, text in before.items():
            (repo / path).write_text("".join(_edited(text.splitlines(keepends=True), hunks, rng)))
        diff = subprocess.run(
            [git, "diff"], cwd=repo, check=True, capture_output=True
        ).stdout.decode()
        run([git, "stash", "-q"])
        (Path(folder) / "change.diff").write_text(diff)

        def git_apply() -> None:
            run([git, "apply", str(Path(folder) / "change.diff")])
            run([git, "checkout", "-q", "--", "."])  # back to the base for the next run

        apply_ms = median_ms(git_apply, runs)
        checkout_ms = median_ms(partial(run, [git, "checkout", "-q", "--", "."]), runs)
        return GitChange(before, diff, max(apply_ms - checkout_ms, 0.1))


def multi_file_vs_git(runs: int, files: int = 300) -> EngineFigure | None:
    """One `apply_patch` of a `git diff` touching `files` files, next to `git apply`."""
    change = git_change(three_hundred_files(random.Random(25), files), 2, runs)
    if change is None:
        return None
    tree = {path: entry_for(text.encode(), "100644") for path, text in change.before.items()}
    contents = {tree[path].sha256: text.encode() for path, text in change.before.items()}
    plan = partial(plan_patch, tree, [ApplyPatch(patch=change.diff)], contents, PatchLimits())

    def ours() -> object:
        _parsed.cache_clear()  # what one submission pays: a parse included
        return plan()

    assert len(plan().changes) == files
    return EngineFigure(
        f"git diff of {files} files, 2 hunks each",
        len(change.diff),
        files * 2,
        ours_ms=median_ms(ours, runs),
        apply_ms=median_ms(partial(_parsed.__wrapped__, change.diff), runs),
        patch_ms=change.git_apply_ms,
    )
