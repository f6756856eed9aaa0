"""Properties of the lenient engine: forgiving where the meaning is unique, never wrong.

(a) a diff from A to B with its header numbers perturbed, or reduced to `@@ ... @@`,
    still gives exactly B;
(b) a search block shifted by a constant indentation still gives B, re-indented;
(c) whenever the engine matches leniently, the place it chose was the only one that
    matched that way (checked by brute force).
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.contracts import EditFile, SearchReplace
from domain.patching.rejection import PatchRejection
from domain.patching.unified_diff import apply_hunks, parse_diff, unified_diff
from tests.unit.patching.helpers import Tree
from tests.unit.patching.test_engine import tree_with

#: Lines that are all different, so context always says where it is.
unique_lines = st.lists(
    st.text(alphabet="abcdefgh (),:=", min_size=0, max_size=12), min_size=0, max_size=30
).map(lambda words: [f"l{n}: {word}\n" for n, word in enumerate(words)])


@st.composite
def edited(draw: st.DrawFn) -> tuple[str, str]:
    """A text and an edit of it: some lines replaced, dropped or added (all still unique)."""
    before = draw(unique_lines)
    after = list(before)
    for _ in range(draw(st.integers(0, 4))):
        choice = draw(st.sampled_from(["replace", "drop", "add"]))
        if choice == "add" or not after:
            after.insert(draw(st.integers(0, len(after))), f"new {draw(st.uuids()).hex}\n")
        else:
            at = draw(st.integers(0, len(after) - 1))
            if choice == "drop":
                del after[at]
            else:
                after[at] = f"changed {draw(st.uuids()).hex}\n"
    return "".join(before), "".join(after)


def _perturb(diff: str, offsets: list[int], bare: bool) -> str:
    numbers = iter(offsets)

    def header(match: re.Match[str]) -> str:
        if bare:
            return "@@ ... @@"
        shift = next(numbers, 0)
        old, new = max(int(match[1]) + shift, 0), max(int(match[3]) + shift, 0)
        return f"@@ -{old},{match[2] or 1} +{new},{match[4] or 1} @@"

    return re.sub(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", header, diff, flags=re.M)


@settings(max_examples=300, deadline=None)
@given(
    change=edited(),
    offsets=st.lists(st.integers(-50, 50), max_size=10),
    bare=st.booleans(),
    context=st.integers(1, 3),
)
def test_a_diff_with_wrong_or_no_numbers_still_gives_exactly_b(
    change: tuple[str, str], offsets: list[int], bare: bool, context: int
) -> None:
    before, after = change
    diff = unified_diff(before, after, old_name="a/f", new_name="b/f", context=context)
    if not diff:
        return
    perturbed = _perturb(diff, offsets, bare)
    result, _ = apply_hunks(before, parse_diff(perturbed, "f").hunks, "f")
    assert result == after


@st.composite
def indented_code(draw: st.DrawFn) -> tuple[list[str], int, int]:
    """Unique lines of code at some indentation, and a block of them (start, size)."""
    words = draw(st.lists(st.text(alphabet="abcdefgh=()", min_size=1, max_size=8), min_size=1))
    lines = [" " * 4 * draw(st.integers(0, 3)) + f"s{n} {word}\n" for n, word in enumerate(words)]
    start = draw(st.integers(0, len(lines) - 1))
    size = draw(st.integers(1, len(lines) - start))
    return lines, start, size


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


@settings(max_examples=300, deadline=None)
@given(code=indented_code(), shift=st.sampled_from([-8, -4, 4, 8]))
def test_a_search_shifted_by_a_constant_indentation_gives_the_reindented_result(
    code: tuple[list[str], int, int], shift: int
) -> None:
    lines, start, size = code
    block = lines[start : start + size]
    if shift < 0 and min(_indent_of(line) for line in block) < -shift:
        return  # cannot dedent the block that far
    moved = [(" " * shift + line) if shift > 0 else line[-shift:] for line in block]
    replace_moved = [line.replace("\n", " # done\n") for line in moved]
    tree = tree_with(f="".join(lines))
    tree.apply(
        [
            EditFile(
                path="f",
                edits=[SearchReplace(search="".join(moved), replace="".join(replace_moved))],
            )
        ]
    )
    expected = lines[:start] + [line.replace("\n", " # done\n") for line in block]
    assert tree.read("f").decode() == "".join(expected + lines[start + size :])


def _lenient_places(text: str, search: str, kind: str) -> list[int]:
    """Brute force: every line where `search` matches as `kind` says."""
    have = [line.rstrip("\n").rstrip(" \t") for line in text.splitlines(keepends=True)]
    want = [line.rstrip("\n").rstrip(" \t") for line in search.splitlines(keepends=True)]
    places = []
    for at in range(len(have) - len(want) + 1):
        window = have[at : at + len(want)]
        if kind == "whitespace" and window == want:
            places.append(at)
        if kind == "reindented":
            shifts = {
                (len(w) - len(w.lstrip()), len(s) - len(s.lstrip()))
                for w, s in zip(window, want, strict=True)
                if w.strip() or s.strip()
            }
            same = all(w.strip() == s.strip() for w, s in zip(window, want, strict=True))
            deltas = {a - b for a, b in shifts}
            if same and len(deltas) == 1 and deltas != {0}:
                places.append(at)
    return places


@settings(max_examples=400, deadline=None)
@given(
    lines=st.lists(st.sampled_from(["a\n", "  a\n", "a  \n", "b\n", "  b \n", "\n"]), max_size=8),
    search=st.lists(st.sampled_from(["a\n", "  a\n", "b\n", "a \n"]), min_size=1, max_size=3),
)
def test_a_lenient_match_is_always_the_only_place_that_matches_that_way(
    lines: list[str], search: list[str]
) -> None:
    text, wanted = "".join(lines), "".join(search)
    tree: Tree = tree_with(f=text)
    try:
        plan = tree.apply([EditFile(path="f", edits=[SearchReplace(search=wanted, replace="Z\n")])])
    except PatchRejection:
        return
    for tolerance in plan.tolerances:
        if tolerance.kind in ("whitespace", "reindented"):
            assert len(_lenient_places(text, wanted, tolerance.kind)) == 1, (text, wanted)
