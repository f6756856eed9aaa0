"""`apply_diff`: unified diff hunks with context, applied here (parsed in diff_parse.py).

LLM agents write diffs that are slightly off: wrong line numbers or counts, `@@ ... @@`
headers without numbers, no `---`/`+++` lines, trailing whitespace that differs. The
rules, in order, so that the engine is forgiving but never wrong (docs/patches.md):

* A hunk's lines are counted from its body, as `git apply --recount` does; a header
  whose counts disagree is recorded as `recounted`. A hunk whose body ends before its
  header's counts at the end of the text looks cut off, and is refused.
* Numbers are a hint; context decides. A hunk applies where its context matches: at
  its stated line, else at the one place after the previous hunk (`offset`), first
  exactly, then up to line endings, then up to trailing whitespace. Several places at
  the same tier is a conflict that names them; we never pick one.
* Context lines are kept as the file has them; only `-` and `+` lines change it.
* Create and delete follow the `/dev/null` headers, never the hunk numbers; a file that
  does not end with a newline keeps it that way unless a `\\ No newline at end of file`
  marker in the hunk says otherwise.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Final

from domain.contracts import MatchKind
from domain.patching.diff_parse import Hunk, ParsedDiff, parse_diff
from domain.patching.rejection import PatchRejection
from domain.patching.text import indent_shift, line_ending, split_lines, without_eol

__all__ = ["Hunk", "Note", "ParsedDiff", "apply_hunks", "parse_diff", "unified_diff"]

#: (hunk index, how it matched, detail) for each hunk that did not apply as written.
Note = tuple[int, MatchKind, str]

NO_NEWLINE: Final = "\\ No newline at end of file\n"


# -- applying --------------------------------------------------------------------------------

_Key = Callable[[str], str]
#: Typographic characters models write for their ASCII twins.
_FOLD: Final = str.maketrans(
    {
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u00a0": " ",
    }
)
_TIERS: Final[tuple[tuple[MatchKind | None, _Key], ...]] = (
    (None, lambda line: line),
    ("line_endings", without_eol),
    ("whitespace", lambda line: without_eol(line).rstrip(" \t")),
    # Indentation ignored: kept only where one constant shift explains it (see _locate).
    ("reindented", lambda line: without_eol(line).strip(" \t")),
    ("punctuation", lambda line: without_eol(line).strip(" \t").translate(_FOLD)),
)


def apply_hunks(text: str, hunks: Sequence[Hunk], path: str) -> tuple[str, list[Note]]:
    """Apply hunks in order (each after the previous); the text, and how each matched."""
    lines = split_lines(text)
    out: list[str] = []
    notes: list[Note] = []
    ending = line_ending(lines)
    cursor = shift = 0
    ends_at_eof = False
    for number, hunk in enumerate(hunks):
        stated = _stated(hunk, shift)
        lowest = _after_anchors(lines, hunk, cursor, path, number + 1)
        at, tier = _locate(lines, hunk, stated, lowest, path, number + 1)
        if hunk.recounted:
            notes.append((number, "recounted", hunk.header))
        if stated is None:
            if hunk.numbered_format:
                notes.append((number, "no_line_numbers", f"matched at line {at + 1}"))
        elif at != stated:
            notes.append((number, "offset", f"stated line {stated + 1}, matched at {at + 1}"))
        if tier == "line_endings" and _only_the_last_line_unterminated(lines, hunk, at):
            notes.append((number, "final_newline_kept", "the file ends without a newline"))
        elif tier is not None:
            notes.append((number, tier, f"at line {at + 1}"))
        _extend(out, lines[cursor:at], ending)
        moved = _shift_at(lines, hunk.old, at) if tier in ("reindented", "punctuation") else None
        _extend(out, _output(hunk, lines, at, loose=tier is not None, shift=moved), ending)
        cursor = at + len(hunk.old)
        ends_at_eof = cursor == len(lines) and not hunk.marks_eof
        if hunk.old_start is not None:
            shift = at - max(hunk.old_start - 1, 0) if hunk.old else at - hunk.old_start
    _extend(out, lines[cursor:], ending)
    result = "".join(out)
    if ends_at_eof and text and not text.endswith("\n") and result.endswith("\n"):
        # No marker said otherwise: the file keeps ending without a newline.
        result = result.removesuffix("\n").removesuffix("\r")
        notes.append((len(hunks) - 1, "final_newline_kept", "the file ends without a newline"))
    return result, notes


def _after_anchors(lines: list[str], hunk: Hunk, cursor: int, path: str, number: int) -> int:
    """The first line the hunk may start at: past each of its anchor lines, in order.

    An anchor (`@@ def total(`) names a line by its text, trimmed; it must occur exactly
    once in the part of the file still ahead, or the hunk is refused.
    """
    lowest = cursor
    for anchor in hunk.anchors:
        wanted = anchor.strip()
        found = [at for at in range(lowest, len(lines)) if lines[at].strip() == wanted]
        if len(found) != 1:
            where = (
                "nowhere" if not found else f"at lines {', '.join(str(a + 1) for a in found[:10])}"
            )
            raise PatchRejection(
                "hunk_failed",
                f"{path}: hunk {number} is anchored on {wanted!r}, which occurs {where} "
                "after the previous hunk; the anchor must name one line",
                path=path,
            )
        lowest = found[0] + 1
    return lowest


def _shift_at(lines: list[str], old: list[str], at: int) -> tuple[str, str] | None:
    """The one indentation shift from the hunk's old lines to the file's at `at`, if any."""
    have = [without_eol(line).rstrip(" \t").translate(_FOLD) for line in lines[at : at + len(old)]]
    return indent_shift(have, [without_eol(line).rstrip(" \t").translate(_FOLD) for line in old])


def _only_the_last_line_unterminated(lines: list[str], hunk: Hunk, at: int) -> bool:
    """Whether the hunk matched exactly but for the newline the file's last line lacks."""
    old = hunk.old
    return (
        at + len(old) == len(lines)
        and lines[at : at + len(old) - 1] == old[:-1]
        and old[-1] == lines[-1] + "\n"
    )


def _stated(hunk: Hunk, shift: int) -> int | None:
    if hunk.old_start is None:
        return None
    start = hunk.old_start if not hunk.old else max(hunk.old_start - 1, 0)
    return start + shift


def _locate(
    lines: list[str], hunk: Hunk, stated: int | None, lowest: int, path: str, number: int
) -> tuple[int, MatchKind | None]:
    """Where the hunk's old lines start, and the tier they matched at (None: exactly)."""
    old = hunk.old
    if not old:
        return _insertion_point(lines, hunk, stated, lowest, path, number), None
    for tier, key in _TIERS:
        wanted = [key(line) for line in old]
        if stated is not None and lowest <= stated and _matches(lines, stated, key, wanted):
            return stated, tier
        first = len(lines) - len(old) if hunk.at_end else lowest
        found = [
            at
            for at in range(max(first, lowest), len(lines) - len(old) + 1)
            if key(lines[at]) == wanted[0] and _matches(lines, at, key, wanted)
        ]
        if tier in ("reindented", "punctuation"):  # never change the file's indentation
            found = [at for at in found if _shift_at(lines, old, at) is not None]
        if len(found) == 1:
            return found[0], tier
        if len(found) > 1:
            places = ", ".join(str(at + 1) for at in found[:10])
            where = "" if stated is None else f"does not match at line {stated + 1} and "
            raise PatchRejection(
                "hunk_failed",
                f"{path}: hunk {number} ({_named(hunk)}) {where}its context matches at "
                f"several lines ({places}); add context to choose one",
                path=path,
            )
    best = _best_alignment(lines, hunk, lowest if stated is None else stated, lowest)
    raise PatchRejection(
        "hunk_failed",
        f"{path}: hunk {number} ({_named(hunk)}) does not apply: "
        f"{_first_mismatch(lines, hunk, best)}",
        path=path,
    )


def _named(hunk: Hunk) -> str:
    """A hunk as a rejection names it: its header and its first old line."""
    first = next((without_eol(line) for line in hunk.old), None)
    return hunk.header if first is None else f"{hunk.header}, starting {first[:60]!r}"


def _insertion_point(
    lines: list[str], hunk: Hunk, stated: int | None, lowest: int, path: str, number: int
) -> int:
    """A hunk of added lines only: it goes where its numbers say, or into an empty file."""
    if not lines:
        return 0  # the one place there is
    if stated is None:
        raise PatchRejection(
            "hunk_failed",
            f"{path}: hunk {number} ({hunk.header}) adds lines without context or line "
            "numbers; add a context line to say where",
            path=path,
        )
    if lowest <= stated <= len(lines):
        return stated
    raise PatchRejection(
        "hunk_failed",
        f"{path}: hunk {number} ({hunk.header}) inserts at line {stated + 1}, "
        f"but the file has {len(lines)} lines",
        path=path,
    )


def _matches(lines: list[str], at: int, key: _Key, wanted: list[str]) -> bool:
    window = lines[at : at + len(wanted)]
    return len(window) == len(wanted) and [key(line) for line in window] == wanted


def _output(
    hunk: Hunk, lines: list[str], at: int, *, loose: bool, shift: tuple[str, str] | None = None
) -> list[str]:
    """The hunk's new lines: context as the file has it, added lines in its line ending
    (and, when the hunk matched at another indentation, moved by the same shift)."""
    out: list[str] = []
    ending = line_ending(lines)
    position = at
    for kind, value in hunk.lines:
        if kind == " ":
            file_line = lines[position]
            if value.endswith("\n") or not file_line.endswith("\n"):
                _extend(out, [file_line], ending)
            else:  # the marker unterminated it: the new file ends here, without a newline
                _extend(out, [without_eol(file_line)], ending)
            position += 1
        elif kind == "-":
            position += 1
        elif shift is not None and value.strip():
            removed, added = shift
            body = without_eol(value)
            body = added + body[len(removed) :] if body.startswith(removed) else body
            _extend(out, [body + ending if value.endswith("\n") else body], ending)
        elif loose and value.endswith("\n"):
            _extend(out, [without_eol(value) + ending], ending)
        else:
            _extend(out, [value], ending)
    return out


def _extend(out: list[str], more: Sequence[str], ending: str = "\n") -> None:
    """Append lines; a line that had no newline (a file's last) gets one when more follow."""
    if more and out and not out[-1].endswith("\n"):
        out[-1] += ending
    out.extend(more)


def _best_alignment(lines: list[str], hunk: Hunk, stated: int, lowest: int) -> int:
    """Where most of the hunk's leading lines match (nearest the stated line on ties)."""
    old = hunk.old

    def agreeing(at: int) -> int:
        count = 0
        for offset, expected in enumerate(old):
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
