"""Path safety: a workspace path must never escape the workspace or confuse git.

Checked before anything else, so that a bad path is always reported as such rather
than as a missing file.
"""

from __future__ import annotations

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
        if segment.lower() == ".git":
            return "is inside '.git/', which belongs to version control"
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            return f"has a segment longer than {MAX_SEGMENT_BYTES} bytes"
    return None


def parent_folders(path: str) -> list[str]:
    """'a/b/c.py' -> ['a', 'a/b']."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]
