"""Unified diffs as agents write them, parsed into hunks without losing a line.

Lines are counted from each hunk's body, as `git apply --recount` does: a header whose
counts disagree is kept as a hint (`recounted`), a body that ends before its counts at
the end of the text is refused as cut off, and a line inside a hunk that is not a hunk
line is refused rather than silently ending the hunk. Create and delete come from the
`/dev/null` headers only. How hunks apply: `unified_diff.py`.
"""

from __future__ import annotations

import re
from typing import Final

from msgspec import Struct

from domain.patching.rejection import PatchRejection
from domain.patching.text import split_lines, without_eol

_NUMBERS: Final = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_SIGNATURE: Final = frozenset({"-- \n", "-- \r\n"})


class Hunk(Struct, frozen=True):
    header: str
    #: The stated first old line (1-based; 0 for an insertion at the top); None when
    #: the header has no numbers.
    old_start: int | None
    #: The body: (" " | "-" | "+", line with its ending).
    lines: list[tuple[str, str]]
    recounted: bool = False
    #: A "\\ No newline at end of file" marker said how the file ends.
    marks_eof: bool = False
    #: Lines the hunk must come after, in order (the apply_patch envelope's `@@ class A`).
    anchors: list[str] = []
    #: The hunk's old lines must end the file (the envelope's `*** End of File`).
    at_end: bool = False
    #: Unified diffs number their hunks; the envelope's hunks never do.
    numbered_format: bool = True

    @property
    def old(self) -> list[str]:
        return [value for kind, value in self.lines if kind != "+"]

    @property
    def new(self) -> list[str]:
        return [value for kind, value in self.lines if kind != "-"]


class ParsedDiff(Struct, frozen=True):
    hunks: list[Hunk]
    #: `--- /dev/null`: the diff creates the file.
    creates: bool
    #: `+++ /dev/null`: the diff deletes the file.
    deletes: bool


def parse_diff(diff: str, path: str) -> ParsedDiff:
    """Parse one file's unified diff; bare hunks (no ---/+++ lines) are accepted too."""
    lines = split_lines(diff)
    names: tuple[str | None, str | None] | None = None
    hunks: list[Hunk] = []
    at = 0
    while at < len(lines):
        line = lines[at]
        if line.startswith("--- ") and at + 1 < len(lines) and lines[at + 1].startswith("+++ "):
            if names is not None or hunks:
                files = sum(1 for n in range(len(lines)) if _file_header(lines, n))
                raise PatchRejection(
                    "invalid_diff",
                    f"apply_diff takes the diff of one file; this one has {files} files "
                    f"(the next header is at line {at + 1})",
                    path=path,
                )
            names = (_name(line[4:]), _name(lines[at + 1][4:]))
            _check_names(names, path)
            at += 2
        elif line.startswith("@@"):
            hunk, at = _parse_hunk(lines, at, path, len(hunks) + 1)
            hunks.append(hunk)
        else:
            at += 1  # a preamble (diff --git, index, mode, prose) or trailing text
    if not hunks:
        raise PatchRejection("invalid_diff", f"diff for {path} has no hunks", path=path)
    old_name, new_name = names or (path, path)
    return ParsedDiff(hunks, creates=old_name is None, deletes=new_name is None)


def _name(header: str) -> str | None:
    """The path of a `---`/`+++` header line, without a timestamp; None for /dev/null."""
    name = unquote(without_eol(header).split("\t", 1)[0].strip())
    return None if name == "/dev/null" else name


def _check_names(names: tuple[str | None, str | None], path: str) -> None:
    named = [n for n in names if n is not None]
    if named and not any(n == path or n.endswith("/" + path) for n in named):
        raise PatchRejection(
            "invalid_diff",
            f"the diff's headers name {' and '.join(sorted(set(named)))}, not {path}",
            path=path,
        )


def _parse_hunk(lines: list[str], at: int, path: str, number: int) -> tuple[Hunk, int]:
    header = without_eol(lines[at])
    numbers = _NUMBERS.match(header)
    counts: tuple[int, int] | None = None
    old_start: int | None = None
    if numbers:
        old_start = int(numbers[1])
        counts = (_count(numbers[2]), _count(numbers[4]))
    body: list[tuple[str, str]] = []
    marks_eof = False
    at += 1
    while at < len(lines):
        line = lines[at]
        kind = line[:1]
        if counts and line in _SIGNATURE and _reached(body, counts):
            break  # `git format-patch`'s signature, not a removed "- " line
        if kind in (" ", "-", "+") and not _file_header(lines, at):
            body.append((kind, line[1:]))
        elif kind == "\\" and body:
            marks_eof = True
            _unterminate(body)
        elif line in ("\n", "\r\n") and _more_body(lines, at + 1):
            body.append((" ", line))  # a blank context line that lost its leading space
        elif line in ("\n", "\r\n") and counts and _short_by_blanks(body, counts, lines, at):
            body.append((" ", line))  # the same, at the hunk's end, as its counts say
        else:
            ends = line.startswith(("@@", "diff ")) or _file_header(lines, at)
            if not ends and _more_body(lines, at + 1):
                raise PatchRejection(
                    "invalid_diff",
                    f"{path}: line {at + 1} of the diff, inside hunk {number} ({header}), "
                    f"is not a hunk line: {without_eol(line)[:60]!r}; every line of a hunk "
                    "starts with ' ', '-' or '+' (a context line may have lost its space)",
                    path=path,
                )
            break
        at += 1
    if not body:
        raise PatchRejection(
            "invalid_diff", f"{path}: hunk {number} ({header}) has no lines", path=path
        )
    recounted = False
    if counts is not None:
        old = sum(1 for kind, _ in body if kind != "+")
        new = sum(1 for kind, _ in body if kind != "-")
        if (old, new) != counts:
            continues = at < len(lines) and (lines[at].startswith("@@") or _file_header(lines, at))
            if not continues and (old < counts[0] or new < counts[1]):
                raise PatchRejection(
                    "invalid_diff",
                    f"{path}: hunk {number} ({header}) ends after {old} old and {new} new "
                    f"lines, where its header promises {counts[0]} and {counts[1]}; the "
                    "diff looks cut off",
                    path=path,
                )
            recounted = True
    return Hunk(header, old_start, body, recounted, marks_eof), at


def _count(value: str | None) -> int:
    return 1 if value is None else int(value)


def _reached(body: list[tuple[str, str]], counts: tuple[int, int]) -> bool:
    old = sum(1 for kind, _ in body if kind != "+")
    new = sum(1 for kind, _ in body if kind != "-")
    return old >= counts[0] and new >= counts[1]


def _file_header(lines: list[str], at: int) -> bool:
    return lines[at].startswith("--- ") and at + 1 < len(lines) and lines[at + 1].startswith("+++ ")


def _more_body(lines: list[str], at: int) -> bool:
    """Whether hunk lines follow (past blank ones): a blank line inside a hunk is context."""
    while at < len(lines) and lines[at] in ("\n", "\r\n"):
        at += 1
    return at < len(lines) and lines[at][:1] in (" ", "-", "+", "\\")


def _short_by_blanks(
    body: list[tuple[str, str]], counts: tuple[int, int], lines: list[str], at: int
) -> bool:
    """Whether the body falls short of its counts by as many blank lines as follow here."""
    blanks = 0
    while at + blanks < len(lines) and lines[at + blanks] in ("\n", "\r\n"):
        blanks += 1
    old = sum(1 for kind, _ in body if kind != "+")
    new = sum(1 for kind, _ in body if kind != "-")
    return 0 < counts[0] - old == counts[1] - new <= blanks


def _unterminate(body: list[tuple[str, str]]) -> None:
    """The marker: the line before it (on its side) has no newline at the end of its file."""
    kind, value = body[-1]
    body[-1] = (kind, value.removesuffix("\n"))


def unquote(name: str) -> str:
    """git's C-style quoting (`"a/sp\\303\\251c"`) undone; an unquoted name as it is."""
    if not (name.startswith('"') and name.endswith('"')):
        return name
    raw = name[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
    return raw.encode("latin-1").decode("utf-8", "replace")
