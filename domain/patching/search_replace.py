"""`edit_file`: exact search/replace blocks, each of which must match exactly once.

Exactly once, because an edit that matches twice is ambiguous and one that matches
nowhere was written against a file that has moved on; either way guessing would
silently corrupt the file. The error says which block and, for no match, the line
of the file that looks most like the block's first line.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from domain.contracts import SearchReplace
from domain.patching.rejection import PatchRejection
from domain.patching.text import split_lines, without_eol


def apply_edits(text: str, edits: Sequence[SearchReplace], path: str) -> str:
    for index, edit in enumerate(edits):
        positions = _positions(text, edit.search)
        count = len(positions)
        if count == 0:
            raise PatchRejection(
                "edit_no_match",
                f"edits[{index}] of {path}: the search text does not occur in the file"
                + _closest(text, edit.search),
                path=path,
            )
        if count > 1:
            lines = sorted({text.count("\n", 0, at) + 1 for at in positions})
            raise PatchRejection(
                "edit_ambiguous",
                f"edits[{index}] of {path}: the search text occurs {count} times "
                f"(at lines {', '.join(map(str, lines))}); make it unique with more context",
                path=path,
            )
        text = text.replace(edit.search, edit.replace, 1)
    return text


def _closest(text: str, search: str) -> str:
    wanted = next((line.strip() for line in search.split("\n") if line.strip()), "")
    lines = [without_eol(line) for line in split_lines(text)]
    if not wanted or not lines:
        return ""
    best_ratio, best_number = 0.0, 0
    for number, line in enumerate(lines, start=1):
        ratio = difflib.SequenceMatcher(None, wanted, line.strip()).ratio()
        if ratio > best_ratio:
            best_ratio, best_number = ratio, number
    if best_ratio < 0.5:
        return ""
    return f"; closest line is {best_number}: {lines[best_number - 1].strip()!r}"


def _positions(text: str, search: str) -> list[int]:
    """Every offset where `search` starts, overlapping ones included."""
    found, start = [], 0
    while (at := text.find(search, start)) != -1:
        found.append(at)
        start = at + 1
    return found
