"""Path safety: a workspace path must never escape the workspace or confuse git.

Checked before anything else, so that a bad path is always reported as such rather
than as a missing file. The `.git` rules are git's own (`verify_path` with
`core.protectNTFS` and `core.protectHFS`, which git applies on every platform): a
segment that NTFS or HFS+ would open as `.git` is refused too - `GIT~1` (the 8.3
short name), `.git.`, `.git ` and `.git::$INDEX_ALLOCATION` (trailing dots and spaces
and alternate data streams are dropped by NTFS), `.git\u200c` (HFS+ ignores some
invisible code points). Invisible formatting characters (Unicode category Cf, which
includes every bidirectional control such as the right-to-left override) are refused
anywhere, so a path always reads as what it is.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from domain.patching.limits import PatchLimits
from domain.patching.rejection import PatchRejection

MAX_SEGMENT_BYTES: Final = 255


def check_path(path: str, limits: PatchLimits) -> str:
    """Return `path` if it is a safe relative POSIX path, else raise `invalid_path`."""
    problem = _problem(path, limits)
    if problem:
        raise PatchRejection("invalid_path", f"path {path!r} {problem}", path=path)
    return path


def _problem(path: str, limits: PatchLimits) -> str | None:
    if not path:
        return "is empty"
    if "\x00" in path:
        return "contains a NUL byte"
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in path):
        return "contains a control character"
    invisible = next((char for char in path if unicodedata.category(char) == "Cf"), None)
    if invisible is not None:
        name = unicodedata.name(invisible, "formatting character")
        return f"contains U+{ord(invisible):04X} ({name}), an invisible formatting character"
    if "\\" in path:
        return "contains a backslash; use '/' between folders"
    if path.startswith("/"):
        return "is absolute; paths are relative to the workspace root"
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if size > limits.max_path_bytes:
        return f"is {size} bytes long; the limit is {limits.max_path_bytes}"
    for segment in path.split("/"):
        if segment == "":
            return "has an empty segment ('//' or a trailing '/')"
        if segment in (".", ".."):
            return f"has a {segment!r} segment; paths must not leave or alias folders"
        if _is_dotgit(segment):
            return "is inside '.git/', which belongs to version control"
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            return f"has a segment longer than {MAX_SEGMENT_BYTES} bytes"
    return None


#: Code points HFS+ ignores when it compares names (git's `next_hfs_char`).
_HFS_IGNORED: Final = frozenset(
    [0x200C, 0x200D, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF]
)


def _is_dotgit(segment: str) -> bool:
    """Would NTFS or HFS+ (or a case-insensitive file system) open `segment` as `.git`?"""
    name = "".join(char for char in segment if ord(char) not in _HFS_IGNORED).lower()
    name = name.split(":", 1)[0].rstrip(". ")  # NTFS: streams, trailing dots and spaces
    return name in (".git", "git~1")


def lookalike_key(path: str) -> str:
    """What two paths share when a case-insensitive or normalising file system (macOS,
    Windows) would take them for the same: NFKC case-folded."""
    if path.isascii():
        return path.lower()
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", path).casefold())


def parent_folders(path: str) -> list[str]:
    """'a/b/c.py' -> ['a', 'a/b']."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]
