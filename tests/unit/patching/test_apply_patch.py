"""`apply_patch`: one text for a whole change, as agents write it; all of it or nothing."""

from __future__ import annotations

import pytest

from domain.contracts import ApplyPatch
from domain.patching.engine import PatchPlan
from tests.unit.patching.helpers import Tree
from tests.unit.patching.test_engine import rejected, tree_with

ENVELOPE = """*** Begin Patch
*** Add File: docs/hello.txt
+Hello, world!
*** Update File: src/app.py
*** Move to: src/main.py
@@ def total(prices):
-    return sum(prices)
+    return round(sum(prices), 2)
@@
 def tax(amount):
-    return amount * 0.2
+    return amount * 0.21
*** End of File
*** Delete File: obsolete.txt
*** End Patch
"""
APP = (
    "import math\n\n\ndef total(prices):\n    return sum(prices)\n\n\n"
    "def tax(amount):\n    return amount * 0.2\n"
)


def apply(tree: Tree, text: str) -> PatchPlan:
    return tree.apply([ApplyPatch(patch=text)])


def test_the_envelope_adds_moves_updates_and_deletes_in_one_operation() -> None:
    tree = tree_with(**{"src__app.py": APP, "obsolete.txt": "x\n"})
    plan = apply(tree, ENVELOPE)
    assert set(tree.files) == {"docs/hello.txt", "src/main.py"}
    assert tree.read("docs/hello.txt") == b"Hello, world!\n"
    assert (
        tree.read("src/main.py")
        == APP.replace("sum(prices)\n", "round(sum(prices), 2)\n")
        .replace("0.2\n", "0.21\n")
        .encode()
    )
    assert {c.change for c in plan.changes} == {"added", "renamed", "deleted"}


@pytest.mark.parametrize(
    "wrap",
    [
        lambda t: "apply_patch <<'EOF'\n" + t + "EOF\n",
        lambda t: t.replace("\n", "\r\n"),
        lambda t: t.rstrip("\n"),
        lambda t: t.replace("*** Begin Patch", "  *** Begin Patch  ").replace(
            "*** End Patch", "*** End Patch   "
        ),
    ],
    ids=["heredoc", "crlf", "no final newline", "padded markers"],
)
def test_the_envelope_is_accepted_as_models_send_it(wrap: object) -> None:
    tree = tree_with(**{"src__app.py": APP, "obsolete.txt": "x\n"})
    apply(tree, wrap(ENVELOPE))  # type: ignore[operator]
    assert tree.read("docs/hello.txt") == b"Hello, world!\n"


@pytest.mark.parametrize(
    ("text", "code", "says"),
    [
        (
            "*** Begin Patch\n*** Add File: a.txt\n+new\n*** End Patch\n",
            "file_exists",
            "never overwritten",
        ),
        (
            "*** Begin Patch\n*** Update File: b.txt\n*** Move to: a.txt\n"
            "@@\n-b\n+c\n*** End Patch\n",
            "file_exists",
            "onto a.txt",
        ),
        (
            "*** Begin Patch\n*** Update File: nope.txt\n@@\n-b\n+c\n*** End Patch\n",
            "file_missing",
            "nope.txt",
        ),
        ("*** Begin Patch\n*** Delete File: nope.txt\n*** End Patch\n", "file_missing", "nope.txt"),
        ("*** Begin Patch\n*** End Patch\n", "invalid_diff", "changes no file"),
        ("*** Begin Patch\n*** Update File: a.txt\n*** End Patch\n", "invalid_diff", "no hunks"),
        ("*** Begin Patch\n*** Update File: a.txt\n@@\n-a\n+b\n", "invalid_diff", "cut off"),
    ],
    ids=[
        "add over a file",
        "move onto a file",
        "update a missing file",
        "delete a missing file",
        "empty",
        "update without hunks",
        "no end",
    ],
)
def test_where_the_reference_tool_would_destroy_work_the_envelope_is_refused(
    text: str, code: str, says: str
) -> None:
    tree = tree_with(**{"a.txt": "a\n", "b.txt": "b\n"})
    error = rejected(tree, ApplyPatch(patch=text))
    assert error.code == code
    assert says in error.message


def test_an_anchor_must_name_one_line() -> None:
    tree = tree_with(f="def a():\n    x = 1\ndef a():\n    x = 1\n")
    error = rejected(
        tree,
        ApplyPatch(
            patch="*** Begin Patch\n*** Update File: f\n@@ def a():\n"
            "-    x = 1\n+    x = 2\n*** End Patch\n"
        ),
    )
    assert error.code == "hunk_failed"
    assert "lines 1, 3" in error.message


def test_typographic_punctuation_matches_only_where_unique_and_is_recorded() -> None:
    tree = tree_with(f="say('it\u2019s done') \u2014 ok\nnext\n")
    plan = apply(
        tree,
        "*** Begin Patch\n*** Update File: f\n@@\n-say('it's done') - ok\n+say('done')\n"
        " next\n*** End Patch\n",
    )
    assert tree.read("f") == b"say('done')\nnext\n"
    assert [t.kind for t in plan.tolerances] == ["punctuation"]


MULTI = (
    """From 1a2b3c Mon Sep 17 00:00:00 2001
From: Agent <agent@example.com>
Subject: [PATCH] tidy up

---
 a.txt | 2 +-

diff --git a/a.txt b/a.txt
index 7898192..6178079 100644
--- a/a.txt
+++ b/a.txt
@@ -1 +1 @@
-a
+A
diff --git a/b.txt b/c.txt
similarity index 100%
rename from b.txt
rename to c.txt
diff --git a/new.sh b/new.sh
new file mode 100755
index 0000000..e69de29
--- /dev/null
+++ b/new.sh
@@ -0,0 +1,2 @@
+#!/bin/sh
+echo hi
diff --git "a/sp\\303\\251cial name.txt" "b/sp\\303\\251cial name.txt"
deleted file mode 100644
index 3b18e51..0000000
--- "a/sp\\303\\251cial name.txt"
+++ /dev/null
@@ -1 +0,0 @@
-bye
diff --git a/run.py b/run.py
old mode 100644
new mode 100755
"""
    + "-- \n2.39.5\n"
)  # format-patch's signature (its "-- " is not a removed line)


def test_a_format_patch_of_several_files_applies_as_one_operation() -> None:
    tree = tree_with(
        **{"a.txt": "a\n", "b.txt": "b\n", "spécial name.txt": "bye\n", "run.py": "x\n"}
    )
    apply(tree, MULTI)
    assert set(tree.files) == {"a.txt", "c.txt", "new.sh", "run.py"}
    assert tree.read("a.txt") == b"A\n"
    assert tree.read("c.txt") == b"b\n"
    assert (tree.read("new.sh"), tree.files["new.sh"].mode) == (b"#!/bin/sh\necho hi\n", "100755")
    assert tree.files["run.py"].mode == "100755"


def test_a_binary_patch_is_refused_naming_the_file() -> None:
    tree = tree_with(**{"a.txt": "a\n"})
    text = (
        "diff --git a/logo.png b/logo.png\nnew file mode 100644\nindex 0000000..1\n"
        "GIT binary patch\nliteral 4\nLcmZ?wbZ>\n\n"
    )
    error = rejected(tree, ApplyPatch(patch=text))
    assert (error.code, error.path) == ("invalid_diff", "logo.png")


def test_a_failing_file_leaves_every_file_of_the_patch_as_it_was() -> None:
    tree = tree_with(**{"a.txt": "a\n", "b.txt": "b\n"})
    text = (
        "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+A\n"
        "--- a/b.txt\n+++ b/b.txt\n@@ -1 +1 @@\n-zzz\n+B\n"
    )
    error = rejected(tree, ApplyPatch(patch=text))  # rejected() checks nothing changed
    assert error.code == "hunk_failed"


def test_the_text_the_agent_sent_is_kept_exactly_as_a_blob() -> None:
    tree = tree_with(**{"src__app.py": APP, "obsolete.txt": "x\n"})
    text = "apply_patch <<'EOF'\n" + ENVELOPE + "EOF\n"
    plan = apply(tree, text)
    [source] = plan.sources
    assert tree.blobs[source] == text.encode()  # stored with the files, in the same append
