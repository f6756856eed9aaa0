"""Lines of text, kept byte for byte: line endings (LF or CRLF) stay with their line.

Only '\n' ends a line, as in git and `patch`; a lone '\r' or a form feed is content.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence
from typing import Final


def split_lines(text: str) -> list[str]:
    """Lines with their endings; the last one has none if the text has no final newline."""
    if not text:
        return []
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def decode_text(content: bytes) -> str | None:
    """The content as text, or None if it is binary (not UTF-8, or holds NUL bytes)."""
    if b"\x00" in content:
        return None
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return None


def without_eol(line: str) -> str:
    return line.rstrip("\r\n")


def line_ending(lines: Sequence[str]) -> str:
    """The file's line ending: CRLF if its first terminated line uses it, else LF."""
    for line in lines:
        if line.endswith("\n"):
            return "\r\n" if line.endswith("\r\n") else "\n"
    return "\n"


#: Past this many line pairs in the changed middle, a line diff could take seconds
#: (difflib degrades towards quadratic when many small runs match); the counts then come
#: from how often each line occurs instead (linear).
DIFF_BUDGET: Final = 1_000_000


def line_stats(before: str, after: str) -> tuple[int, int]:
    """(lines added, lines removed) between two texts, as a line diff counts them (git's
    Myers diff may find a shorter one where lines repeat).

    Near-linear whatever the input: the common first and last lines are skipped; the
    changed middle is diffed line by line when it is small, and otherwise counted as
    the lines each side has more of than the other (the same figures, except that a
    line moved within a large rewrite counts as unchanged).
    """
    old, new = split_lines(before), split_lines(after)
    start = 0
    while start < len(old) and start < len(new) and old[start] == new[start]:
        start += 1
    end = 0
    while end < len(old) - start and end < len(new) - start and old[-1 - end] == new[-1 - end]:
        end += 1
    old, new = old[start : len(old) - end], new[start : len(new) - end]
    if len(old) * len(new) > DIFF_BUDGET:
        have, want = Counter(old), Counter(new)
        return sum((want - have).values()), sum((have - want).values())
    added = removed = 0
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            removed += i2 - i1
        if tag in ("replace", "insert"):
            added += j2 - j1
    return added, removed


def indent_shift(have: list[str], want: list[str]) -> tuple[str, str] | None:
    """(removed, added) indentation that turns every wanted line into the file's, if one
    constant shift does; blank lines match blank lines."""
    removed, added = common_indent(want), common_indent(have)
    for file_line, search_line in zip(have, want, strict=True):
        if not file_line.strip() and not search_line.strip():
            continue
        if not search_line.startswith(removed) or file_line != added + search_line[len(removed) :]:
            return None
    return removed, added


def common_indent(lines: list[str]) -> str:
    """The longest leading whitespace every non-blank line shares."""
    indents = [line[: len(line) - len(line.lstrip(" \t"))] for line in lines if line.strip()]
    if not indents:
        return ""
    common = indents[0]
    for indent in indents[1:]:
        while not indent.startswith(common):
            common = common[:-1]
    return common
