"""`apply_patch`: a whole change as one text, resolved into per-file steps.

Two forms, told apart by their first marker:

* OpenAI's apply_patch envelope (Codex CLI, GPT-4.1+/GPT-5): `*** Begin Patch`,
  `*** Add File:`, `*** Delete File:`, `*** Update File:` (with `*** Move to:`), hunks
  opened by `@@` with an optional anchor line, `*** End of File`, `*** End Patch`.
  Accepted as models send it: markers padded with whitespace, inside a heredoc
  (`apply_patch <<'EOF'` ... `EOF`), CRLF, no final newline.
* a multi-file unified diff as `git diff` (with `-M`), `git format-patch` and
  `diff -ruN` print it: `diff --git` sections, `/dev/null` creates and deletes,
  `rename from`/`rename to`, `new file mode`, `old mode`/`new mode`, quoted paths.
  Binary patches are refused naming the file (docs/patches.md says why).

Where the envelope's reference tool is lenient in ways that can destroy work, the
engine refuses instead (Add over an existing file, Move onto one, Update or Delete of
a missing file, an Update without hunks, an empty patch, no `*** End Patch`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Final, Literal

from msgspec import Struct

from domain.contracts import FileMode
from domain.patching.diff_parse import Hunk, parse_diff, unquote
from domain.patching.rejection import PatchRejection
from domain.patching.text import split_lines, without_eol


class FileStep(Struct, frozen=True):
    """What one file of the patch does."""

    kind: Literal["add", "delete", "update"]
    path: str
    content: str = ""
    hunks: list[Hunk] = []
    move_to: str | None = None
    mode: FileMode | None = None


_MODES: Final = frozenset({"100644", "100755"})
_EPOCH: Final = re.compile(r"\t1970-01-01[ T]00:00:00")  # diff -N's stand-in for /dev/null


def parse_patch(text: str) -> tuple[FileStep, ...]:
    """The steps of an envelope or a multi-file diff; refused when neither, or empty.

    One submission asks for them three times (the paths it touches, the contents it
    needs, the plan), so the last few texts' steps are kept: they are immutable.
    """
    return _parsed(text)


@lru_cache(maxsize=8)
def _parsed(text: str) -> tuple[FileStep, ...]:
    body = _unwrap(text)
    if any(line.strip() == "*** Begin Patch" for line in body.splitlines()[:5]):
        steps = _envelope(body)
    else:
        steps = _git_diff(body)
    if not steps:
        raise PatchRejection("invalid_diff", "the patch changes no file")
    return tuple(steps)


def paths_of(steps: Sequence[FileStep]) -> set[str]:
    """Every path the steps read or write."""
    return {step.path for step in steps} | {step.move_to for step in steps if step.move_to}


def _unwrap(text: str) -> str:
    """Without a heredoc wrapper, in LF line endings when the markers use CRLF."""
    if "*** Begin Patch\r\n" in text:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if lines and re.match(r"^\s*(apply_patch|applypatch)\s+<<\s*['\"]?(\w+)['\"]?\s*$", lines[0]):
        tag = re.findall(r"<<\s*['\"]?(\w+)", lines[0])[0]
        end = next((n for n in range(len(lines) - 1, 0, -1) if lines[n].strip() == tag), None)
        lines = lines[1:end]
    return "\n".join(lines)


# -- the envelope ------------------------------------------------------------------------------


def _envelope(text: str) -> list[FileStep]:
    lines = split_lines(text if text.endswith("\n") else text + "\n")
    at = next(n for n, line in enumerate(lines) if line.strip() == "*** Begin Patch") + 1
    steps: list[FileStep] = []
    while at < len(lines):
        marker = lines[at].strip()
        if marker == "*** End Patch":
            return steps
        if marker.startswith("*** Add File:"):
            path = _named(marker, "*** Add File:", at)
            at += 1
            content = []
            while at < len(lines) and lines[at].startswith("+"):
                content.append(lines[at][1:])
                at += 1
            steps.append(FileStep("add", path, content="".join(content)))
        elif marker.startswith("*** Delete File:"):
            steps.append(FileStep("delete", _named(marker, "*** Delete File:", at)))
            at += 1
        elif marker.startswith("*** Update File:"):
            path = _named(marker, "*** Update File:", at)
            at += 1
            move_to = None
            if at < len(lines) and lines[at].strip().startswith("*** Move to:"):
                move_to = _named(lines[at].strip(), "*** Move to:", at)
                at += 1
            hunks, at = _chunks(lines, at, path)
            if not hunks:
                raise PatchRejection(
                    "invalid_diff", f"*** Update File: {path} has no hunks", path=path
                )
            steps.append(FileStep("update", path, hunks=hunks, move_to=move_to))
        elif not marker:
            at += 1
        else:
            raise PatchRejection(
                "invalid_diff",
                f"line {at + 1} of the patch is not a file marker: {marker[:60]!r}",
            )
    raise PatchRejection("invalid_diff", "the patch has no *** End Patch; it looks cut off")


def _named(marker: str, prefix: str, at: int) -> str:
    path = marker[len(prefix) :].strip()
    if not path:
        raise PatchRejection("invalid_diff", f"line {at + 1}: {prefix} names no file")
    return path


def _chunks(lines: list[str], at: int, path: str) -> tuple[list[Hunk], int]:
    """An Update's hunks, up to the next file marker."""
    hunks: list[Hunk] = []
    anchors: list[str] = []
    body: list[tuple[str, str]] = []

    def close(at_end: bool = False) -> None:
        nonlocal anchors, body
        if body:
            header = "@@ " + " / ".join(anchors) if anchors else "@@"
            hunks.append(
                Hunk(header, None, body, anchors=anchors, at_end=at_end, numbered_format=False)
            )
        anchors, body = [], []

    while at < len(lines):
        line = lines[at]
        marker = line.strip()
        if marker.startswith("*** ") and marker != "*** End of File":
            break
        if marker == "*** End of File":
            close(at_end=True)
        elif line.startswith("@@"):
            if body:
                close()
            anchor = line[2:].strip()
            if anchor:
                anchors.append(anchor)
        elif line[:1] in (" ", "-", "+"):
            body.append((line[:1], line[1:]))
        elif line in ("\n", "\r\n"):
            body.append((" ", line))  # a blank context line without its space
        else:
            raise PatchRejection(
                "invalid_diff",
                f"{path}: line {at + 1} of the patch is not a hunk line: "
                f"{without_eol(line)[:60]!r}",
                path=path,
            )
        at += 1
    close()
    return hunks, at


# -- a multi-file unified diff --------------------------------------------------------------


def _git_diff(text: str) -> list[FileStep]:
    lines = split_lines(text if text.endswith("\n") else text + "\n")
    starts = [n for n, line in enumerate(lines) if line.startswith("diff --git ")]
    if not starts:  # diff -ruN, or plain ---/+++ pairs
        starts = [
            n
            for n, line in enumerate(lines)
            if line.startswith("--- ") and n + 1 < len(lines) and lines[n + 1].startswith("+++ ")
        ]
        git = False
    else:
        git = True
    if not starts:
        raise PatchRejection(
            "invalid_diff", "the patch is neither an apply_patch envelope nor a diff"
        )
    return [
        _section(lines[start:end], git=git)
        for start, end in zip(starts, [*starts[1:], len(lines)], strict=True)
    ]


def _section(lines: list[str], *, git: bool) -> FileStep:
    meta: dict[str, str] = {}
    old = new = None
    for number, line in enumerate(lines):
        text = without_eol(line)
        if text.startswith(("GIT binary patch", "Binary files ")):
            name = meta.get("rename to") or _git_paths(lines[0])[1] if git else "?"
            raise PatchRejection(
                "invalid_diff",
                f"{name}: binary patches are not applied; send write_file with base64 content",
                path=name,
            )
        for key in (
            "new file mode",
            "deleted file mode",
            "old mode",
            "new mode",
            "rename from",
            "rename to",
            "copy from",
        ):
            if text.startswith(key + " "):
                meta[key] = text[len(key) + 1 :]
        if (
            text.startswith("--- ")
            and number + 1 < len(lines)
            and lines[number + 1].startswith("+++ ")
        ):
            old, new = (
                _header_path(text[4:], git),
                _header_path(without_eol(lines[number + 1])[4:], git),
            )
            break
    if "copy from" in meta:
        raise PatchRejection(
            "invalid_diff", "copies are not applied; send create_file for the copy"
        )
    source, target = _git_paths(lines[0]) if git else (old, new)
    source = unquote(meta["rename from"]) if "rename from" in meta else (old or source)
    target = unquote(meta["rename to"]) if "rename to" in meta else (new or target)
    mode = meta.get("new file mode") or meta.get("new mode")
    if mode is not None and mode not in _MODES:
        raise PatchRejection(
            "invalid_diff", f"{target}: mode {mode} is not a file mode we keep (100644, 100755)"
        )
    has_hunks = any(line.startswith("@@") for line in lines)
    path = target or source or "?"
    hunks = parse_diff("".join(lines), path).hunks if has_hunks else []
    if (git and "deleted file mode" in meta) or (new is None and old is not None):
        return FileStep("delete", source or path, hunks=hunks)
    if (git and "new file mode" in meta) or (old is None and new is not None):
        return FileStep("add", path, content=_added(hunks), mode=mode)  # type: ignore[arg-type]
    assert source is not None
    moved = target if target != source else None
    return FileStep("update", source, hunks=hunks, move_to=moved, mode=mode)  # type: ignore[arg-type]


def _added(hunks: list[Hunk]) -> str:
    return "".join(value for hunk in hunks for kind, value in hunk.lines if kind == "+")


def _header_path(name: str, git: bool) -> str | None:
    """A `---`/`+++` path without its timestamp and `a/`/first component; None for none."""
    if name == "/dev/null" or (not git and _EPOCH.search(name)):
        return None
    path = unquote(name.split("\t", 1)[0].strip())
    first, _, rest = path.partition("/")
    return rest if rest and (git or first) else path


def _git_paths(header: str) -> tuple[str, str]:
    """(a-path, b-path) of a `diff --git a/x b/y` line, quoted or not."""
    rest = without_eol(header)[len("diff --git ") :]
    if rest.startswith('"'):
        quoted = re.findall(r'"(?:[^"\\]|\\.)*"|\S+', rest)
        old, new = (unquote(part) for part in quoted[:2])
    else:
        half = (len(rest) - 1) // 2  # "a/P b/P": the same path twice
        old, new = rest[:half], rest[half + 1 :]
    return old.removeprefix("a/"), new.removeprefix("b/")
