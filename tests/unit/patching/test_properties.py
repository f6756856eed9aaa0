"""Property tests: diffs round-trip exactly, and operation sequences never corrupt the tree."""

from __future__ import annotations

import difflib

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.contracts import (
    ApplyDiff,
    CreateFile,
    DeleteFile,
    EditFile,
    PatchOperation,
    RenameFile,
    SearchReplace,
    WriteFile,
)
from domain.patching.engine import PatchPlan
from domain.patching.rejection import PatchRejection
from domain.patching.text import split_lines
from domain.patching.unified_diff import apply_hunks, parse_diff, unified_diff
from tests.unit.patching.helpers import Tree

# Short lines from a small alphabet, so that repeated lines (ambiguous context) and
# CRLF endings, lone CRs and missing final newlines all come up often.
line = st.text(alphabet="ab \t\r{}", max_size=6)
text = st.lists(line, max_size=30).map("\n".join) | st.lists(line, max_size=30).map(
    lambda lines: "".join(f"{item}\n" for item in lines)
)


@settings(max_examples=400, deadline=None)
@given(before=text, after=text, context=st.integers(min_value=0, max_value=4))
def test_a_diff_made_from_a_to_b_applied_to_a_gives_b_exactly(
    before: str, after: str, context: int
) -> None:
    diff = unified_diff(before, after, old_name="a/f", new_name="b/f", context=context)
    if not diff:
        assert before == after
        return
    assert apply_hunks(before, parse_diff(diff, "f").hunks, "f")[0] == after


@settings(max_examples=200, deadline=None)
@given(
    before=st.lists(line.map(lambda s: s + "\n"), max_size=30),
    after=st.lists(line.map(lambda s: s + "\n"), max_size=30),
)
def test_plain_difflib_output_applies_too(before: list[str], after: list[str]) -> None:
    diff = "".join(difflib.unified_diff(before, after, "a/f", "b/f"))
    if diff:
        assert apply_hunks("".join(before), parse_diff(diff, "f").hunks, "f")[0] == "".join(after)


names = st.sampled_from(["a", "b", "src/c", "src/d", "e/f/g"])
contents = st.text(alphabet="xy\n\r", max_size=12)


@st.composite
def operations(draw: st.DrawFn) -> PatchOperation:
    kind = draw(st.sampled_from(["create", "write", "edit", "delete", "rename", "diff"]))
    path = draw(names)
    if kind == "create":
        return CreateFile(path=path, content=draw(contents))
    if kind == "write":
        return WriteFile(path=path, content=draw(contents))
    if kind == "edit":
        search = draw(st.text(alphabet="xy\n", min_size=1, max_size=3))
        return EditFile(path=path, edits=[SearchReplace(search=search, replace=draw(contents))])
    if kind == "delete":
        return DeleteFile(path=path)
    if kind == "diff":
        return ApplyDiff(path=path, diff="@@ -1,1 +1,1 @@\n-" + draw(contents) + "\n+z\n")
    return RenameFile(path=path, to=draw(names))


def _exact_target(text: str, search: str) -> int:
    """Where an exact search applies: the one whole-line occurrence, else the one that
    splits no word (search_replace.py's first two tiers, written out naively)."""
    found = [at for at in range(len(text)) if text.startswith(search, at)]

    def whole(at: int) -> bool:
        end = at + len(search)
        return (at == 0 or text[at - 1] == "\n") and (
            search.endswith("\n") or end == len(text) or text[end] == "\n"
        )

    def splits(at: int) -> bool:
        end = at + len(search)
        word = str.isalnum
        return (at > 0 and word(text[at - 1]) and word(search[0])) or (
            end < len(text) and word(text[end]) and word(search[-1])
        )

    chosen = [at for at in found if whole(at)] or [at for at in found if not splits(at)]
    assert len(chosen) == 1, (text, search, chosen)
    return chosen[0]


def model_apply(model: dict[str, bytes], operation: PatchOperation) -> None:
    """An independent, naive model of the operations that succeed."""
    if isinstance(operation, CreateFile | WriteFile):
        model[operation.path] = operation.content.encode()
    elif isinstance(operation, EditFile):
        edit = operation.edits[0]
        old = model[operation.path].decode()
        at = _exact_target(old, edit.search)
        model[operation.path] = (old[:at] + edit.replace + old[at + len(edit.search) :]).encode()
    elif isinstance(operation, DeleteFile):
        del model[operation.path]
    elif isinstance(operation, RenameFile):
        model[operation.to] = model.pop(operation.path)


@settings(max_examples=300, deadline=None)
@given(patches=st.lists(st.lists(operations(), min_size=1, max_size=4), max_size=12))
def test_operation_sequences_never_corrupt_the_tree(
    patches: list[list[PatchOperation]],
) -> None:
    tree = Tree()
    model: dict[str, bytes] = {}
    for patch in patches:
        before = tree.snapshot()
        try:
            plan: PatchPlan = tree.apply(patch)
        except PatchRejection:
            assert tree.snapshot() == before  # all or nothing
            continue
        lenient = {tolerance.operation for tolerance in plan.tolerances}
        for index, operation in enumerate(patch):
            if not isinstance(operation, ApplyDiff) and index not in lenient:
                model_apply(model, operation)
            else:  # the engine applied it as meant; follow its own result from here
                model = tree.snapshot()
                break
        assert tree.snapshot() == model
        # The tree is always a valid tree: no path is both a file and a folder.
        for path in tree.files:
            assert not any(other.startswith(path + "/") for other in tree.files)
        # Every change's after-hash is the hash of what is stored.
        for change in plan.changes:
            if change.after is not None:
                assert tree.files[change.path] == change.after
        assert all(len(split_lines(t.decode())) >= 0 for t in tree.snapshot().values())
