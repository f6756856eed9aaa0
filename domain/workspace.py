"""The Workspace aggregate: a code tree that factories change by patches.

This is the aggregate's skeleton (creation and archiving); the patch engine and the
file tree arrive with the patch manager. Written with `eventsourcing.domain` so that
its events are ordinary eventsourcing events any eventsourcing Application can read.
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event


class WorkspaceArchived(Exception):
    """The workspace is archived and accepts no more changes."""


class Workspace(Aggregate):
    """A named file tree with a version that counts its events."""

    @event("Created")
    def __init__(self, name: str, created_by: str) -> None:
        self.name = name
        self.created_by = created_by
        self.archived = False

    def archive(self, by: str) -> None:
        """Archive once; archiving again is refused rather than recorded twice."""
        if self.archived:
            raise WorkspaceArchived(f"workspace {self.id} is already archived")
        self._archive(by)

    @event("Archived")
    def _archive(self, by: str) -> None:
        self.archived = True
        self.archived_by = by
