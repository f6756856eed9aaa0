"""Property: an apply_patch envelope made from any change of any tree gives exactly the
target tree; the same envelope with one context line changed is refused, and nothing of
it is applied."""

from __future__ import annotations

import difflib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.contracts import ApplyPatch, CreateFile
from domain.patching.rejection import PatchRejection
from tests.unit.patching.helpers import Tree

Files = dict[str, list[str]]

names = st.sampled_from([f"d{n % 2}/f{n}.py" for n in range(8)])
lines = st.lists(st.integers(0, 10**6).map(lambda n: f"line {n}\n"), max_size=25, unique=True)


@st.composite
def changes(draw: st.DrawFn) -> tuple[Files, Files, list[tuple[str, str]]]:
    """A tree, the tree after a change, and the change's moves (old, new)."""
    before: Files = draw(st.dictionaries(names, lines, max_size=4))
    after: Files = {}
    moves: list[tuple[str, str]] = []
    for path, content in before.items():
        action = draw(st.sampled_from(["keep", "edit", "delete", "move"]))
        if action == "delete":
            continue
        new = list(content)
        if action in ("edit", "move"):
            for _ in range(draw(st.integers(0, 3))):
                at = draw(st.integers(0, len(new)))
                if new and draw(st.booleans()):
                    new.pop(min(at, len(new) - 1))
                else:
                    new.insert(at, f"new {draw(st.integers(0, 10**6))}\n")
        target = path
        if action == "move":
            target = path.replace(".py", "_moved.py")
            moves.append((path, target))
        after[target] = new
    for path in draw(st.lists(names, max_size=2, unique=True)):
        if path not in before and path not in after:
            after[path] = draw(lines)
    return before, after, moves


def envelope(before: Files, after: Files, moves: list[tuple[str, str]]) -> str:
    out = ["*** Begin Patch\n"]
    moved = dict(moves)
    for path in sorted(before):
        target = moved.get(path, path)
        if target not in after:
            out.append(f"*** Delete File: {path}\n")
            continue
        hunks = list(difflib.unified_diff(before[path], after[target], n=3))[2:]
        if not hunks and target == path:
            continue
        out.append(f"*** Update File: {path}\n")
        if target != path:
            out.append(f"*** Move to: {target}\n")
        out += ["@@\n" if line.startswith("@@") else line for line in hunks] or [
            "@@\n",
            *(" " + line for line in before[path][:1]),
        ]
    for path in sorted(set(after) - set(before) - set(moved.values())):
        out.append(f"*** Add File: {path}\n")
        out += ["+" + line for line in after[path]]
    out.append("*** End Patch\n")
    return "".join(out)


def expressible(before: Files, moves: list[tuple[str, str]]) -> bool:
    """An envelope moves a file only in an Update, which needs a hunk: an empty file
    cannot be moved by one (send rename_file)."""
    return all(before[old] for old, _ in moves)


def tree_of(files: Files) -> Tree:
    tree = Tree()
    if files:
        tree.apply([CreateFile(path=p, content="".join(c)) for p, c in files.items()])
    return tree


@settings(max_examples=250, deadline=None)
@given(change=changes())
def test_an_envelope_made_from_a_change_gives_exactly_the_target_tree(
    change: tuple[Files, Files, list[tuple[str, str]]],
) -> None:
    before, after, moves = change
    text = envelope(before, after, moves)
    if text == "*** Begin Patch\n*** End Patch\n" or not expressible(before, moves):
        return
    tree = tree_of(before)
    tree.apply([ApplyPatch(patch=text)])
    assert tree.snapshot() == {p: "".join(c).encode() for p, c in after.items()}


@settings(max_examples=250, deadline=None)
@given(change=changes(), pick=st.integers(0, 10**6))
def test_an_envelope_with_a_changed_context_line_is_refused_whole(
    change: tuple[Files, Files, list[tuple[str, str]]], pick: int
) -> None:
    before, after, moves = change
    if not expressible(before, moves):
        return
    text = envelope(before, after, moves)
    body = text.splitlines(keepends=True)
    context = [n for n, line in enumerate(body) if line.startswith(" line ")]
    if not context:
        return
    at = context[pick % len(context)]
    body[at] = " ZZZ not in any file\n"
    tree = tree_of(before)
    snapshot = tree.snapshot()
    with pytest.raises(PatchRejection) as refused:
        tree.apply([ApplyPatch(patch="".join(body))])
    assert refused.value.code == "hunk_failed"
    assert tree.snapshot() == snapshot
