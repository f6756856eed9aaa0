"""`apply_diff`: unified diff hunks with context, parsed by `unidiff`, applied here.

Parsing is the library's job (headers, hunk ranges, the "\\ No newline at end of
file" marker, CRLF kept in line values). Applying is ours because the rules are the
product's: a hunk applies at its stated line or, if the file moved, at the one place
its context matches; anything else is a conflict that names the hunk and the first
line that differs. We never guess between several places.
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Callable, Sequence

from msgspec import Struct
from unidiff.errors import UnidiffParseError
from unidiff.patch import PatchSet

from domain.patching.rejection import PatchRejection
from domain.patching.text import line_ending, split_lines, without_eol

NO_NEWLINE = "\\ No newline at end of file\n"


class Hunk(Struct, frozen=True):
    header: str
    old_start: int
    old: list[str]
    new: list[str]


class ParsedDiff(Struct, frozen=True):
    hunks: list[Hunk]
    creates: bool
    deletes: bool


def parse_diff(diff: str, path: str) -> ParsedDiff:
    """Parse one file's unified diff; bare hunks (no ---/+++ lines) are accepted too."""
    if not diff.endswith("\n"):
        diff += "\n"
    if diff.startswith("@@"):
        diff = f"--- a/{path}\n+++ b/{path}\n{diff}"
    try:
        patch = PatchSet(io.StringIO(diff, newline="\n"))
    except UnidiffParseError as error:
        raise PatchRejection(
            "invalid_diff", f"diff for {path} is malformed: {error}", path=path
        ) from None
    if len(patch) != 1:
        raise PatchRejection(
            "invalid_diff",
            f"apply_diff takes the diff of one file; this one has {len(patch)} files",
            path=path,
        )
    patched = patch[0]
    if patched.is_binary_file:
        raise PatchRejection(
            "invalid_diff",
            f"{path}: binary diffs cannot be applied; send write_file with base64 content",
            path=path,
        )
    hunks = [_hunk(hunk) for hunk in patched]
    if not hunks:
        raise PatchRejection("invalid_diff", f"diff for {path} has no hunks", path=path)
    return ParsedDiff(hunks, creates=patched.is_added_file, deletes=patched.is_removed_file)


def _hunk(hunk: object) -> Hunk:
    old: list[str] = []
    new: list[str] = []
    previous = " "
    for line in hunk:  # type: ignore[attr-defined]
        kind, value = line.line_type, line.value
        if kind == "\\":
            # The line before has no newline at the end of its file.
            if previous in (" ", "-") and old:
                old[-1] = old[-1].removesuffix("\n")
            if previous in (" ", "+") and new:
                new[-1] = new[-1].removesuffix("\n")
            continue
        if kind in (" ", "-"):
            old.append(value)
        if kind in (" ", "+"):
            new.append(value)
        previous = kind
    header = (
        f"@@ -{hunk.source_start},{hunk.source_length} "  # type: ignore[attr-defined]
        f"+{hunk.target_start},{hunk.target_length} @@"  # type: ignore[attr-defined]
    )
    return Hunk(header, hunk.source_start, old, new)  # type: ignore[attr-defined]


def apply_hunks(text: str, hunks: Sequence[Hunk], path: str) -> str:
    """Apply hunks in order; each must land after the previous one."""
    lines = split_lines(text)
    out: list[str] = []
    cursor = 0
    shift = 0
    for hunk in hunks:
        stated = (hunk.old_start if not hunk.old else hunk.old_start - 1) + shift
        at, loose = _locate(lines, hunk, stated, cursor, path)
        out.extend(lines[cursor:at])
        out.extend(_adopt_line_ending(hunk.new, lines) if loose else hunk.new)
        cursor = at + len(hunk.old)
        shift = at - (hunk.old_start if not hunk.old else hunk.old_start - 1)
    out.extend(lines[cursor:])
    return "".join(out)


def _locate(lines: list[str], hunk: Hunk, stated: int, lowest: int, path: str) -> tuple[int, bool]:
    """Where the hunk's old lines start, and whether they matched only up to line endings."""
    size = len(hunk.old)
    if size == 0:
        if lowest <= stated <= len(lines):
            return stated, False
        raise PatchRejection(
            "hunk_failed",
            f"{path}: hunk {hunk.header} inserts at line {stated + 1}, "
            f"but the file has {len(lines)} lines",
            path=path,
        )
    for loose in (False, True):
        key: Callable[[str], str] = without_eol if loose else _same
        wanted = [key(line) for line in hunk.old]
        if lowest <= stated and _matches(lines, stated, key, wanted):
            return stated, loose
        found = [
            at
            for at in range(lowest, len(lines) - size + 1)
            if key(lines[at]) == wanted[0] and _matches(lines, at, key, wanted)
        ]
        if len(found) == 1:
            return found[0], loose
        if len(found) > 1:
            places = ", ".join(str(at + 1) for at in found[:10])
            raise PatchRejection(
                "hunk_failed",
                f"{path}: hunk {hunk.header} does not match at line {stated + 1} and its "
                f"context matches at several lines ({places}); add context to choose one",
                path=path,
            )
    raise PatchRejection(
        "hunk_failed",
        f"{path}: hunk {hunk.header} does not apply: "
        f"{_first_mismatch(lines, hunk, _best_alignment(lines, hunk, stated, lowest))}",
        path=path,
    )


def _matches(lines: list[str], at: int, key: Callable[[str], str], wanted: list[str]) -> bool:
    window = lines[at : at + len(wanted)]
    return len(window) == len(wanted) and [key(line) for line in window] == wanted


def _same(line: str) -> str:
    return line


def _best_alignment(lines: list[str], hunk: Hunk, stated: int, lowest: int) -> int:
    """Where most of the hunk's leading lines match (nearest the stated line on ties)."""

    def agreeing(at: int) -> int:
        count = 0
        for offset, expected in enumerate(hunk.old):
            if at + offset >= len(lines) or lines[at + offset] != expected:
                break
            count += 1
        return count

    best, best_score = stated, 0
    for at in range(lowest, len(lines)):
        score = agreeing(at)
        if score > best_score or (
            score == best_score > 0 and abs(at - stated) < abs(best - stated)
        ):
            best, best_score = at, score
    return best


def _first_mismatch(lines: list[str], hunk: Hunk, stated: int) -> str:
    for offset, expected in enumerate(hunk.old):
        number = stated + offset
        if number < 0 or number >= len(lines):
            return (
                f"expected {expected!r} at line {number + 1}, but the file has {len(lines)} lines"
            )
        if lines[number] != expected:
            return f"line {number + 1} is {lines[number]!r}, the hunk expects {expected!r}"
    return "its context matches nowhere after the previous hunk"


def _adopt_line_ending(new: list[str], lines: list[str]) -> list[str]:
    ending = line_ending(lines)
    return [without_eol(line) + ending if line.endswith("\n") else line for line in new]


def unified_diff(before: str, after: str, *, old_name: str, new_name: str, context: int = 3) -> str:
    """A unified diff from `before` to `after` that `apply_hunks` (and `patch`) can apply.

    difflib leaves a line without a final newline unterminated; we add the standard
    marker after it, as `diff` and `git` do, so the last line survives byte for byte.
    """
    out: list[str] = []
    for line in difflib.unified_diff(
        split_lines(before), split_lines(after), old_name, new_name, n=context
    ):
        out.append(line if line.endswith("\n") else line + "\n" + NO_NEWLINE)
    return "".join(out)
