"""Why a patch was turned away, in a form both the API and the event log can carry."""

from __future__ import annotations

from typing import Final, Literal

from domain.contracts import PathConflict

RejectionCode = Literal[
    "invalid_path",
    "invalid_content",
    "invalid_diff",
    "limit_exceeded",
    "invalid_base",
    "file_exists",
    "file_missing",
    "path_conflict",
    "lookalike_path",
    "binary_file",
    "edit_no_match",
    "edit_ambiguous",
    "hunk_failed",
    "stale_base",
    "revert_conflict",
    "not_revertible",
]

#: Codes that mean "the request itself is malformed" (HTTP 422); the rest are conflicts
#: with the workspace's current state (HTTP 409) that a rebased retry may resolve.
INVALID_REQUEST_CODES: Final[frozenset[str]] = frozenset(
    {"invalid_path", "invalid_content", "invalid_diff", "limit_exceeded", "invalid_base"}
)


class PatchRejection(Exception):
    """The patch cannot apply; nothing of it takes effect.

    `operation` is the index of the operation at fault (None for the patch as a whole).
    """

    def __init__(
        self,
        code: RejectionCode,
        message: str,
        *,
        operation: int | None = None,
        path: str | None = None,
        conflicts: tuple[PathConflict, ...] = (),
    ) -> None:
        where = f"operations[{operation}]" if operation is not None else "patch"
        super().__init__(f"{where}: {message}")
        self.code: RejectionCode = code
        self.message = message
        self.operation = operation
        self.path = path
        self.conflicts = conflicts

    def at(self, operation: int) -> PatchRejection:
        """The same rejection, attributed to the operation that caused it."""
        return PatchRejection(
            self.code, self.message, operation=operation, path=self.path, conflicts=self.conflicts
        )
