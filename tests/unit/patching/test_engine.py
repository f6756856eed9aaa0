"""The six operations' semantics, atomicity, limits and diff stats."""

from __future__ import annotations

import base64

import pytest

from domain.contracts import (
    ApplyDiff,
    CreateFile,
    DeleteFile,
    EditFile,
    RenameFile,
    SearchReplace,
    WriteFile,
)
from domain.patching.limits import PatchLimits
from domain.patching.rejection import PatchRejection
from tests.unit.patching.helpers import Tree


def tree_with(**files: str) -> Tree:
    tree = Tree()
    tree.apply([CreateFile(path=p.replace("__", "/"), content=c) for p, c in files.items()])
    return tree


def rejected(tree: Tree, *operations: object) -> PatchRejection:
    before = dict(tree.files)
    with pytest.raises(PatchRejection) as caught:
        tree.apply(list(operations))  # type: ignore[arg-type]
    assert tree.files == before, "a rejected patch must leave the tree as it was"
    return caught.value


def test_create_refuses_an_existing_path_and_write_replaces_it() -> None:
    tree = tree_with(app_py="v1\n")
    error = rejected(tree, CreateFile(path="app_py", content="v2\n"))
    assert (error.code, error.operation, error.path) == ("file_exists", 0, "app_py")

    plan = tree.apply([WriteFile(path="app_py", content="v2\n")])
    assert tree.read("app_py") == b"v2\n"
    assert [(c.change, c.lines_added, c.lines_removed) for c in plan.changes] == [
        ("modified", 1, 1)
    ]


def test_delete_and_rename_need_an_existing_source_and_a_free_target() -> None:
    tree = tree_with(a="1\n", b="2\n")
    assert rejected(tree, DeleteFile(path="missing")).code == "file_missing"
    assert rejected(tree, RenameFile(path="missing", to="c")).code == "file_missing"
    assert rejected(tree, RenameFile(path="a", to="b")).code == "file_exists"

    plan = tree.apply([RenameFile(path="a", to="src/a")])
    assert set(tree.files) == {"b", "src/a"}
    assert [(c.path, c.change, c.renamed_from) for c in plan.changes] == [("src/a", "renamed", "a")]


def test_a_patch_applies_all_operations_or_none() -> None:
    tree = tree_with(a="1\n")
    error = rejected(
        tree,
        WriteFile(path="a", content="changed\n"),
        CreateFile(path="new", content="x"),
        DeleteFile(path="not-there"),
    )
    assert error.operation == 2
    assert tree.read("a") == b"1\n"
    assert "new" not in tree.files


def test_operations_see_the_effect_of_earlier_ones_in_the_same_patch() -> None:
    tree = Tree()
    plan = tree.apply(
        [
            CreateFile(path="a.py", content="x = 1\n"),
            EditFile(path="a.py", edits=[SearchReplace(search="x = 1", replace="x = 2")]),
            RenameFile(path="a.py", to="b.py"),
        ]
    )
    assert tree.snapshot() == {"b.py": b"x = 2\n"}
    assert [(c.path, c.change) for c in plan.changes] == [("b.py", "added")]


def test_edit_blocks_must_match_exactly_once() -> None:
    tree = tree_with(app_py="def run():\n    return 1\n\ndef stop():\n    return 1\n")
    ambiguous = rejected(
        tree, EditFile(path="app_py", edits=[SearchReplace(search="return 1", replace="r")])
    )
    assert ambiguous.code == "edit_ambiguous"
    assert "edits[0]" in ambiguous.message
    assert "lines 2, 5" in ambiguous.message

    missing = rejected(
        tree,
        EditFile(
            path="app_py",
            edits=[
                SearchReplace(search="def run():", replace="def go():"),
                SearchReplace(search="def stopp():\n", replace=""),
            ],
        ),
    )
    assert missing.code == "edit_no_match"
    assert "edits[1]" in missing.message
    assert "closest line is 4: 'def stop():'" in missing.message


def test_diff_hunks_apply_at_a_unique_moved_offset_and_report_the_first_mismatch() -> None:
    tree = tree_with(f="\n".join(f"line {n}" for n in range(1, 21)) + "\n")
    tree.apply([EditFile(path="f", edits=[SearchReplace(search="line 1\n", replace="new\n" * 3)])])
    # Written against the old file: the context now sits two lines lower.
    tree.apply([ApplyDiff(path="f", diff="@@ -9,3 +9,3 @@\n line 9\n-line 10\n+TEN\n line 11\n")])
    assert b"line 9\nTEN\nline 11\n" in tree.read("f")

    error = rejected(
        tree, ApplyDiff(path="f", diff="@@ -3,3 +3,3 @@\n line 3\n-line four\n+4\n line 5\n")
    )
    assert error.code == "hunk_failed"
    assert "@@ -3,3 +3,3 @@" in error.message
    assert "'line four\\n'" in error.message


def test_a_hunk_whose_context_matches_several_places_is_refused() -> None:
    tree = tree_with(f="x\ny\nx\ny\nz\n")
    error = rejected(tree, ApplyDiff(path="f", diff="@@ -7,2 +7,2 @@\n x\n-y\n+Y\n"))
    assert error.code == "hunk_failed"
    assert "several lines (1, 3)" in error.message


def test_crlf_and_missing_final_newline_are_kept_byte_for_byte() -> None:
    tree = tree_with(win="a\r\nb\r\nc")
    tree.apply([ApplyDiff(path="win", diff="@@ -1,2 +1,2 @@\n a\n-b\n+B\n")])
    assert tree.read("win") == b"a\r\nB\r\nc"
    tree.apply([EditFile(path="win", edits=[SearchReplace(search="B\r\n", replace="B2\r\n")])])
    assert tree.read("win") == b"a\r\nB2\r\nc"


def test_binary_files_travel_as_base64_and_refuse_text_edits() -> None:
    png = bytes(range(256))
    tree = Tree()
    plan = tree.apply(
        [CreateFile(path="logo.png", content=base64.b64encode(png).decode(), encoding="base64")]
    )
    assert tree.read("logo.png") == png
    assert plan.changes[0].binary
    error = rejected(tree, EditFile(path="logo.png", edits=[SearchReplace(search="a", replace="")]))
    assert error.code == "binary_file"
    bad = rejected(tree, CreateFile(path="x.bin", content="***", encoding="base64"))
    assert bad.code == "invalid_content"


def test_paths_that_differ_only_by_case_or_normalisation_are_refused() -> None:
    tree = tree_with(**{"src__App.py": "x\n", "cafe": "x\n"})
    tree.apply([RenameFile(path="cafe", to="caf\u00e9.md")])  # NFC
    for twin, existing in [
        ("src/app.py", "src/App.py"),
        ("SRC/new.py", "src"),
        ("cafe\u0301.md", "caf\u00e9.md"),  # NFD of the same name
        ("\uff33\uff32\uff23/x.py", "src"),  # fullwidth letters
    ]:
        error = rejected(tree, CreateFile(path=twin, content=""))
        assert error.code == "lookalike_path", twin
        assert f"differs from {existing} only by case" in error.message
    # Renaming a file to another case of its own name is fine: the old one is gone.
    tree.apply([RenameFile(path="src/App.py", to="src/app.py")])
    assert sorted(tree.snapshot()) == ["caf\u00e9.md", "src/app.py"]
    # Two new twins in one patch are refused too.
    both = [CreateFile(path="x/A", content=""), CreateFile(path="x/a", content="")]
    assert rejected(tree, *both).code == "lookalike_path"


def test_a_file_and_a_folder_cannot_share_a_path() -> None:
    tree = tree_with(src__app_py="x\n")
    assert rejected(tree, CreateFile(path="src", content="")).code == "path_conflict"
    assert rejected(tree, CreateFile(path="src/app_py/x", content="")).code == "path_conflict"
    tree.apply([DeleteFile(path="src/app_py"), CreateFile(path="src", content="now a file")])
    assert tree.snapshot() == {"src": b"now a file"}


def test_limits_are_enforced_with_the_limit_in_the_message() -> None:
    tree = Tree(PatchLimits(max_file_bytes=10, max_operations=2, max_patch_bytes=25))
    big = rejected(tree, CreateFile(path="a", content="x" * 11))
    assert (big.code, big.path) == ("limit_exceeded", "a")
    assert "limit is 10" in big.message
    many = rejected(tree, *[CreateFile(path=str(n), content="") for n in range(3)])
    assert "3 operations; the limit is 2" in many.message
    heavy = rejected(
        tree, CreateFile(path="a", content="x" * 9), WriteFile(path="b", content="y" * 20)
    )
    assert "limit is 25" in heavy.message


def test_diff_stats_count_lines_like_git_numstat() -> None:
    tree = tree_with(a="1\n2\n3\n")
    plan = tree.apply(
        [WriteFile(path="a", content="1\ntwo\n3\n4\n"), CreateFile(path="b", content="x\ny\n")]
    )
    assert [(c.path, c.lines_added, c.lines_removed) for c in plan.changes] == [
        ("a", 2, 1),
        ("b", 2, 0),
    ]
    plan = tree.apply([DeleteFile(path="a")])
    assert (plan.changes[0].change, plan.changes[0].lines_removed) == ("deleted", 4)


def test_diffs_create_and_delete_files_through_dev_null() -> None:
    tree = Tree()
    tree.apply([ApplyDiff(path="n", diff="--- /dev/null\n+++ b/n\n@@ -0,0 +1,2 @@\n+a\n+b\n")])
    assert tree.read("n") == b"a\nb\n"
    tree.apply([ApplyDiff(path="n", diff="--- a/n\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a\n-b\n")])
    assert tree.files == {}


def test_malformed_diffs_are_invalid_not_conflicts() -> None:
    tree = tree_with(a="1\n")
    short = rejected(tree, ApplyDiff(path="a", diff="@@ -1,3 +1,3 @@\n 1\n"))
    assert short.code == "invalid_diff"
    two_files = "--- a/a\n+++ b/a\n@@ -1 +1 @@\n-1\n+2\n--- a/b\n+++ b/b\n@@ -1 +1 @@\n-1\n+2\n"
    assert "2 files" in rejected(tree, ApplyDiff(path="a", diff=two_files)).message


def test_a_swap_of_two_files_in_one_patch_keeps_both() -> None:
    tree = tree_with(a="A\n", b="B\n")
    plan = tree.apply(
        [
            RenameFile(path="a", to="tmp"),
            RenameFile(path="b", to="a"),
            RenameFile(path="tmp", to="b"),
        ]
    )
    assert tree.snapshot() == {"a": b"B\n", "b": b"A\n"}
    assert sorted((c.path, c.change, c.renamed_from) for c in plan.changes) == [
        ("a", "renamed", "b"),
        ("b", "renamed", "a"),
    ]


def test_a_path_renamed_away_and_written_again_holds_the_new_file() -> None:
    # Found by the property test: the same bytes written back used to vanish.
    for content in ("", "same\n"):
        tree = tree_with(a=content)
        plan = tree.apply([RenameFile(path="a", to="b"), CreateFile(path="a", content=content)])
        assert tree.snapshot() == {"a": content.encode(), "b": content.encode()}
        assert sorted((c.path, c.change, c.renamed_from) for c in plan.changes) == [
            ("a", "added", None),
            ("b", "renamed", "a"),
        ]
