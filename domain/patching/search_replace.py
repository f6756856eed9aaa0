"""`edit_file`: search/replace blocks, each applied where it matches once and only once.

Agents write search blocks that are slightly off: a one-line search meant as a whole
line, indentation shifted by a level, trailing spaces, a stray blank line. We try, in
order, and stop at the first tier that finds the search (docs/patches.md):

1. exactly, as whole lines (a search without a final newline ends at a line's end);
2. exactly, inside a line, where it neither starts nor ends in the middle of a word
   (`x = 1` never matches inside `max = 10`) -> `inside_line`;
3. line by line, up to trailing whitespace -> `whitespace`; with every line's
   indentation shifted by one constant -> `reindented` (the replacement is shifted the
   same way); each also after dropping a blank first or last search line ->
   `blank_lines_trimmed`.

At every tier the match must be unique: two candidates is a refusal that names their
lines, never a guess. An empty search fills a new or empty file; anywhere else it is
refused, asking for the lines to anchor on.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Final

from domain.contracts import MatchKind, SearchReplace
from domain.patching.rejection import PatchRejection
from domain.patching.text import indent_shift, line_ending, split_lines, without_eol

#: (edit index, how it matched, detail) for each edit that did not match as written.
Note = tuple[int, MatchKind, str]
#: (start, end) of the text a search stands for, and the text to put there.
_Span = tuple[int, int, str]

_SHOWN: Final = 10


def apply_edits(text: str, edits: Sequence[SearchReplace], path: str) -> tuple[str, list[Note]]:
    notes: list[Note] = []
    for index, edit in enumerate(edits):
        where = f"edits[{index}] of {path}"
        if edit.search == "":
            if text:
                raise PatchRejection(
                    "edit_no_match",
                    f"{where}: the search is empty, which only fills a new or empty file; "
                    "give the lines to replace, or a line to anchor the new text on",
                    path=path,
                )
            text = edit.replace
            notes.append((index, "filled", "an empty search filled the empty file"))
            continue
        if edit.replace_all or edit.expected_replacements is not None:
            text = _replace_every(text, edit, where, path)
            continue
        (start, end, replacement), kind = _find(text, edit, where, path)
        text = text[:start] + replacement + text[end:]
        if kind is not None:
            notes.append((index, kind, f"at line {text.count(chr(10), 0, start) + 1}"))
    return text, notes


def _replace_every(text: str, edit: SearchReplace, where: str, path: str) -> str:
    """`replace_all` / `expected_replacements`: every exact occurrence, left to right, as
    the str_replace tools of Claude Code, Gemini CLI and OpenHands mean them."""
    count = text.count(edit.search)
    wanted = edit.expected_replacements
    if count == 0:
        raise PatchRejection(
            "edit_no_match",
            f"{where}: the search text does not occur in the file" + _closest(text, edit.search),
            path=path,
        )
    if wanted is not None and count != wanted:
        raise PatchRejection(
            "edit_ambiguous",
            f"{where}: expected {wanted} replacement(s), but the search text occurs "
            f"{count} time(s); nothing was replaced",
            path=path,
        )
    return text.replace(edit.search, edit.replace)


def _find(text: str, edit: SearchReplace, where: str, path: str) -> tuple[_Span, MatchKind | None]:
    search = edit.search
    exact = _occurrences(text, search)
    whole = [at for at in exact if _whole_lines(text, at, search)]
    if whole:
        return _unique(text, whole, where, path, (whole[0], whole[0] + len(search), edit.replace))
    inside = [at for at in exact if not _splits_word(text, at, search)]
    if inside:
        span = (inside[0], inside[0] + len(search), edit.replace)
        return _unique(text, inside, where, path, span)[0], "inside_line"
    found = _by_lines(text, edit, where, path)
    if found is not None:
        return found
    raise PatchRejection(
        "edit_no_match",
        f"{where}: the search text does not occur in the file" + _closest(text, search),
        path=path,
    )


def _unique(
    text: str, starts: list[int], where: str, path: str, span: _Span
) -> tuple[_Span, MatchKind | None]:
    if len(starts) > 1:
        lines = sorted({text.count("\n", 0, at) + 1 for at in starts})
        raise PatchRejection(
            "edit_ambiguous",
            f"{where}: the search text occurs {len(starts)} times (at lines "
            f"{', '.join(map(str, lines[:_SHOWN]))}); make it unique with more context",
            path=path,
        )
    return span, None


def _occurrences(text: str, search: str) -> list[int]:
    """Every offset where `search` starts, overlapping ones included."""
    found, start = [], 0
    while (at := text.find(search, start)) != -1:
        found.append(at)
        start = at + 1
    return found


def _whole_lines(text: str, at: int, search: str) -> bool:
    end = at + len(search)
    starts_line = at == 0 or text[at - 1] == "\n"
    ends_line = search.endswith("\n") or end == len(text) or text.startswith(("\n", "\r\n"), end)
    return starts_line and ends_line


def _splits_word(text: str, at: int, search: str) -> bool:
    end = at + len(search)
    before = at > 0 and _wordy(text[at - 1]) and _wordy(search[0])
    after = end < len(text) and _wordy(text[end]) and _wordy(search[-1])
    return before or after


def _wordy(char: str) -> bool:
    return char.isalnum() or char == "_"


# -- tier 3: line by line ------------------------------------------------------------------


def _by_lines(
    text: str, edit: SearchReplace, where: str, path: str
) -> tuple[_Span, MatchKind] | None:
    lines = split_lines(text)
    wanted = [without_eol(line) for line in split_lines(edit.search)]
    for trimmed, candidate in _variants(wanted):
        for kind in ("whitespace", "reindented"):
            found = [
                at
                for at in range(len(lines) - len(candidate) + 1)
                if _line_match(lines[at : at + len(candidate)], candidate, kind)
            ]
            if len(found) > 1:
                raise PatchRejection(
                    "edit_ambiguous",
                    f"{where}: the search text matches {len(found)} places up to "
                    f"{kind} (at lines {', '.join(str(at + 1) for at in found[:_SHOWN])}); "
                    "make it unique with more context",
                    path=path,
                )
            if found:
                at = found[0]
                window = lines[at : at + len(candidate)]
                replace = _replacement(edit.replace, trimmed, candidate, window, kind)
                start = sum(len(line) for line in lines[:at])
                end = start + sum(len(line) for line in window)
                return (start, end, replace), "blank_lines_trimmed" if trimmed else kind
    return None


def _variants(wanted: list[str]) -> list[tuple[bool, list[str]]]:
    """The search's lines, then without a blank first and/or last line (if it has one)."""
    variants = [(False, wanted)]
    trimmed = list(wanted)
    while trimmed and not trimmed[0].strip():
        trimmed.pop(0)
    while trimmed and not trimmed[-1].strip():
        trimmed.pop()
    if trimmed and trimmed != wanted:
        variants.append((True, trimmed))
    return variants


def _line_match(window: list[str], wanted: list[str], kind: str) -> bool:
    have = [without_eol(line).rstrip(" \t") for line in window]
    want = [line.rstrip(" \t") for line in wanted]
    if kind == "whitespace":
        return have == want
    shift = indent_shift(have, want)
    return shift is not None and shift != ("", "")


def _replacement(
    replace: str, trimmed: bool, wanted: list[str], window: list[str], kind: str
) -> str:
    """The replacement for whole file lines: re-indented as the search was, trimmed as it
    was, ending and line-ended as the lines it replaces."""
    lines = [without_eol(line) for line in split_lines(replace)]
    if trimmed:
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()
    if kind == "reindented":
        have = [without_eol(line).rstrip(" \t") for line in window]
        removed, added = indent_shift(have, [line.rstrip(" \t") for line in wanted]) or ("", "")
        lines = [
            added + line[len(removed) :] if line.startswith(removed) and line.strip() else line
            for line in lines
        ]
    ending = line_ending(window)
    body = ending.join(lines)
    if lines and window[-1].endswith("\n"):
        body += ending
    return body


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
