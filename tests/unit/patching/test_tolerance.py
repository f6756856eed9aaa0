"""What agents really write: forgiven where the meaning is unique, refused where it is not.

Each defect test reproduced on main before the engine learned its rule (issue 15):
content lost from an over-long hunk, a final newline added, an emptied file deleted,
an existing empty file refused, a one-line search matched inside another line.
"""

from __future__ import annotations

import pytest

from domain.contracts import ApplyDiff, EditFile, SearchReplace
from domain.patching.engine import PatchPlan
from tests.unit.patching.helpers import Tree
from tests.unit.patching.test_engine import rejected, tree_with


def diff(tree: Tree, path: str, text: str) -> PatchPlan:
    return tree.apply([ApplyDiff(path=path, diff=text)])


def edit(tree: Tree, path: str, search: str, replace: str) -> PatchPlan:
    return tree.apply([EditFile(path=path, edits=[SearchReplace(search=search, replace=replace)])])


def kinds(plan: PatchPlan) -> list[str]:
    return [t.kind for t in plan.tolerances]


# -- the defects ----------------------------------------------------------------------------


def test_a_hunk_longer_than_its_header_applies_whole_and_says_it_was_recounted() -> None:
    tree = tree_with(f="a\nb\nc\nd\ne\n")
    plan = diff(tree, "f", "@@ -1,2 +1,2 @@\n a\n-b\n+B\n c\n-d\n+D\n")
    assert tree.read("f") == b"a\nB\nc\nD\ne\n"  # d -> D is not dropped
    assert kinds(plan) == ["recounted"]
    assert plan.tolerances[0].detail == "@@ -1,2 +1,2 @@"


def test_a_hunk_cut_off_before_its_counts_is_refused_not_applied_in_part() -> None:
    tree = tree_with(f="a\nb\nc\nd\ne\n")
    error = rejected(tree, ApplyDiff(path="f", diff="@@ -1,5 +1,5 @@\n a\n-b\n+B\n c\n"))
    assert error.code == "invalid_diff"
    assert "cut off" in error.message


def test_a_file_without_a_final_newline_keeps_it_when_the_diff_does_not_say() -> None:
    tree = tree_with(f="line 1\nline 2\nline 3")
    plan = diff(tree, "f", "@@ -2,2 +2,3 @@\n line 2\n+inserted\n line 3\n")
    assert tree.read("f") == b"line 1\nline 2\ninserted\nline 3"
    assert "final_newline_kept" in kinds(plan)


def test_the_no_newline_marker_decides_when_it_is_there() -> None:
    tree = tree_with(f="a\nb")
    diff(tree, "f", "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n")
    assert tree.read("f") == b"a\nb\n"
    diff(tree, "f", "@@ -1,2 +1,2 @@\n a\n-b\n+c\n\\ No newline at end of file\n")
    assert tree.read("f") == b"a\nc"


def test_adding_after_a_last_line_without_newline_keeps_the_lines_apart() -> None:
    tree = tree_with(f="x = 1")
    diff(tree, "f", "@@ -1 +1,2 @@\n x = 1\n+y = 2\n")
    assert tree.read("f") == b"x = 1\ny = 2"


def test_a_git_diff_that_empties_a_file_leaves_it_empty() -> None:
    tree = tree_with(**{"f.txt": "a\nb\nc\n"})
    diff(tree, "f.txt", "--- a/f.txt\n+++ b/f.txt\n@@ -1,3 +0,0 @@\n-a\n-b\n-c\n")
    assert tree.read("f.txt") == b""  # git leaves it empty; only +++ /dev/null deletes
    diff(tree, "f.txt", "--- a/f.txt\n+++ b/f.txt\n@@ -0,0 +1,2 @@\n+x\n+y\n")
    assert tree.read("f.txt") == b"x\ny\n"  # filling an existing empty file is no create
    diff(tree, "f.txt", "--- a/f.txt\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-x\n-y\n")
    assert "f.txt" not in tree.files


def test_dev_null_creates_and_refuses_an_existing_file() -> None:
    tree = tree_with(f="a\n")
    error = rejected(tree, ApplyDiff(path="f", diff="--- /dev/null\n+++ b/f\n@@ -0,0 +1 @@\n+b\n"))
    assert error.code == "file_exists"
    diff(tree, "g", "--- /dev/null\n+++ b/g\n@@ -0,0 +1 @@\n+g\n")
    assert tree.read("g") == b"g\n"


def test_a_one_line_search_never_matches_inside_another_word() -> None:
    tree = tree_with(f="max = 10\n")
    error = rejected(
        tree, EditFile(path="f", edits=[SearchReplace(search="x = 1", replace="x = 2")])
    )
    assert error.code == "edit_no_match"
    tree = tree_with(f="max = 10\nx = 1\n")
    plan = edit(tree, "f", "x = 1", "x = 2")
    assert tree.read("f") == b"max = 10\nx = 2\n"  # the whole line, not the inside of max
    assert kinds(plan) == []


def test_a_search_inside_a_line_at_word_boundaries_applies_and_says_so() -> None:
    tree = tree_with(f="total = price(1) + tax\n")
    plan = edit(tree, "f", "price(1)", "price(2)")
    assert tree.read("f") == b"total = price(2) + tax\n"
    assert kinds(plan) == ["inside_line"]


# -- tolerance --------------------------------------------------------------------------------


def test_numbers_are_a_hint_and_context_decides() -> None:
    tree = tree_with(f="".join(f"{n}\n" for n in range(1, 21)))
    plan = diff(tree, "f", "@@ -3,3 +3,3 @@\n 14\n-15\n+fifteen\n 16\n")
    assert b"fifteen\n" in tree.read("f")
    assert kinds(plan) == ["offset"]
    plan = diff(tree, "f", "@@ ... @@\n 17\n-18\n+eighteen\n 19\n")
    assert b"eighteen\n" in tree.read("f")
    assert kinds(plan) == ["no_line_numbers"]


def test_trailing_whitespace_in_a_hunk_matches_and_the_file_keeps_its_own_context() -> None:
    tree = tree_with(f="def f():  \n    return 1\n")
    plan = diff(tree, "f", "@@ -1,2 +1,2 @@\n def f():\n-    return 1\n+    return 2\n")
    assert tree.read("f") == b"def f():  \n    return 2\n"
    assert kinds(plan) == ["whitespace"]


def test_a_search_shifted_by_one_indentation_is_reindented_with_its_replacement() -> None:
    tree = tree_with(f="class A:\n    def f(self):\n        return 1\n")
    plan = edit(tree, "f", "def f(self):\n    return 1\n", "def f(self):\n    return 2\n")
    assert tree.read("f") == b"class A:\n    def f(self):\n        return 2\n"
    assert kinds(plan) == ["reindented"]


def test_trailing_whitespace_and_a_stray_blank_line_in_a_search_are_forgiven() -> None:
    tree = tree_with(f="a = 1   \nb = 2\n")
    plan = edit(tree, "f", "a = 1\nb = 2\n", "a = 3\nb = 4\n")
    assert tree.read("f") == b"a = 3\nb = 4\n"
    assert kinds(plan) == ["whitespace"]
    plan = edit(tree, "f", "\na = 3\nb = 4\n\n", "\na = 5\nb = 6\n\n")
    assert tree.read("f") == b"a = 5\nb = 6\n"
    assert kinds(plan) == ["blank_lines_trimmed"]


def test_an_empty_search_fills_a_new_or_empty_file_and_nothing_else() -> None:
    tree = tree_with(empty="")
    plan = edit(tree, "empty", "", "filled\n")
    assert tree.read("empty") == b"filled\n"
    assert kinds(plan) == ["filled"]
    edit(tree, "new.txt", "", "new\n")
    assert tree.read("new.txt") == b"new\n"
    error = rejected(tree, EditFile(path="empty", edits=[SearchReplace(search="", replace="x")]))
    assert (error.code, "anchor" in error.message) == ("edit_no_match", True)


@pytest.mark.parametrize(
    ("text", "search"),
    [
        ("    a = 1\nb\n        a = 1\n", "a = 1\n"),  # reindented twice
        ("x = 1   \ny\nx = 1 \n", "x = 1\n"),  # whitespace twice
    ],
)
def test_a_tolerant_match_in_two_places_is_refused_naming_both(text: str, search: str) -> None:
    tree = tree_with(f=text)
    error = rejected(tree, EditFile(path="f", edits=[SearchReplace(search=search, replace="z\n")]))
    assert error.code == "edit_ambiguous"
    assert "lines 1, 3" in error.message


def test_a_line_that_lost_its_leading_space_inside_a_hunk_is_refused_not_dropped() -> None:
    tree = tree_with(f="a\nb\nc\nd\n")
    error = rejected(tree, ApplyDiff(path="f", diff="@@ -1,4 +1,4 @@\n a\nb\n-c\n+C\n d\n"))
    assert error.code == "invalid_diff"
    assert "not a hunk line" in error.message


def test_headers_naming_another_file_are_refused() -> None:
    tree = tree_with(f="a\n")
    error = rejected(tree, ApplyDiff(path="f", diff="--- a/g\n+++ b/g\n@@ -1 +1 @@\n-a\n+b\n"))
    assert (error.code, "not f" in error.message) == ("invalid_diff", True)


def test_replace_all_replaces_every_occurrence_and_needs_at_least_one() -> None:
    tree = tree_with(f="a = old()\nb = old()\n")
    tree.apply(
        [EditFile(path="f", edits=[SearchReplace(search="old", replace="new", replace_all=True)])]
    )
    assert tree.read("f") == b"a = new()\nb = new()\n"
    error = rejected(
        tree,
        EditFile(path="f", edits=[SearchReplace(search="gone", replace="x", replace_all=True)]),
    )
    assert error.code == "edit_no_match"


def test_expected_replacements_must_be_met_exactly_or_nothing_changes() -> None:
    tree = tree_with(f="x\nx\nx\n")
    error = rejected(
        tree,
        EditFile(path="f", edits=[SearchReplace(search="x", replace="y", expected_replacements=2)]),
    )
    assert error.code == "edit_ambiguous"
    assert "expected 2 replacement(s), but the search text occurs 3 time(s)" in error.message
    tree.apply(
        [
            EditFile(
                path="f", edits=[SearchReplace(search="x", replace="y", expected_replacements=3)]
            )
        ]
    )
    assert tree.read("f") == b"y\ny\ny\n"


def test_a_refused_hunk_is_named_by_its_number_header_and_first_line() -> None:
    tree = tree_with(f="a\nb\nc\n")
    error = rejected(tree, ApplyDiff(path="f", diff="@@ -2,2 +2,2 @@\n zzz\n-c\n+C\n"))
    assert error.code == "hunk_failed"
    assert "hunk 1 (@@ -2,2 +2,2 @@, starting 'zzz') does not apply" in error.message
