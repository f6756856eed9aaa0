"""Path safety: nothing may escape the workspace, alias a folder or reach into .git."""

from __future__ import annotations

import pytest

from domain.patching.limits import PatchLimits
from domain.patching.paths import check_path
from domain.patching.rejection import PatchRejection


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "empty"),
        ("../etc/passwd", "'..'"),
        ("src/../../x", "'..'"),
        ("/etc/passwd", "absolute"),
        ("src\\app.py", "backslash"),
        ("src/\x00.py", "NUL"),
        ("src//app.py", "empty segment"),
        ("src/", "empty segment"),
        ("./app.py", "'.'"),
        (".git/config", ".git"),
        ("vendor/.GIT/hooks/pre-commit", ".git"),
        ("a\nb", "control character"),
        ("x" * 300, "longer than 255"),
        # What NTFS and HFS+ open as .git (git's own verify_path rules):
        ("GIT~1/hooks/post-checkout", ".git"),
        ("git~1/config", ".git"),
        (".git./hooks/x", ".git"),
        (".git /hooks/x", ".git"),
        (".git. . /hooks/x", ".git"),
        (".git::$INDEX_ALLOCATION/hooks/x", ".git"),
        ("src/.Git:stream", ".git"),
        (".git\u200c/hooks/x", "U+200C"),
        (".g\ufeffit/config", "U+FEFF"),
        # Text that reads other than it is:
        ("invoice\u202egpj.exe", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
        ("src/\u2066x\u2069.py", "U+2066"),
        ("a\u200bb.py", "invisible formatting character"),
    ],
)
def test_unsafe_paths_are_refused_with_the_reason(path: str, reason: str) -> None:
    with pytest.raises(PatchRejection) as caught:
        check_path(path, PatchLimits())
    assert caught.value.code == "invalid_path"
    assert reason in caught.value.message


def test_the_path_length_limit_is_configurable() -> None:
    path = "/".join(["abcdefghi"] * 10)  # 99 bytes
    assert check_path(path, PatchLimits()) == path
    with pytest.raises(PatchRejection, match="limit is 50"):
        check_path(path, PatchLimits(max_path_bytes=50))


@pytest.mark.parametrize(
    "path",
    [
        "app.py",
        "src/deep/er/x.ts",
        ".github/ci.yml",
        "a b/ü.txt",
        ".gitignore",
        ".git-blame-ignore-revs",
        "git~2/x",
        "docs/שלום.md",  # right-to-left text itself is fine; only the controls are not
        "x:y.txt",
    ],
)
def test_ordinary_paths_pass(path: str) -> None:
    assert check_path(path, PatchLimits()) == path
