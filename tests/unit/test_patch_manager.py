"""PatchManager use cases against in-memory ports: rebase, revert, idempotency, time travel."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from application.aggregates import AggregateRepository, CommandContext
from application.patch_manager import NotRevertible, PatchManager
from application.ports import IdempotencyKeyReused
from application.workspace_queries import VersionOutOfRange, WorkspaceQueries
from domain.contracts import (
    CreateFile,
    DeleteFile,
    EditFile,
    NewWorkspace,
    PatchOperation,
    PatchSubmission,
    RenameFile,
    SearchReplace,
    WriteFile,
)
from tests.unit.fakes import InMemoryBlobStore, InMemoryEventStore, InMemorySnapshotStore


class Harness:
    def __init__(self, snapshot_every: int = 100) -> None:
        self.store = InMemoryEventStore()
        self.snapshots = InMemorySnapshotStore()
        blobs = InMemoryBlobStore(self.store)
        repository = AggregateRepository(
            self.store, snapshots=self.snapshots, snapshot_every=snapshot_every
        )
        self.manager = PatchManager(self.store, blobs, repository)
        self.queries = WorkspaceQueries(self.store, blobs, repository)

    async def workspace(self, **files: str) -> uuid.UUID:
        summary = await self.manager.create_workspace(
            NewWorkspace(
                name="shop", files=[CreateFile(path=p, content=c) for p, c in files.items()]
            ),
            context(),
        )
        return summary.id

    def submission(
        self, workspace_id: uuid.UUID, base: int, *ops: PatchOperation, key: str | None = None
    ) -> PatchSubmission:
        return PatchSubmission(
            workspace_id=workspace_id,
            base_version=base,
            author="agent-factory",
            task_id="task-1",
            idempotency_key=key or uuid.uuid4().hex,
            operations=list(ops),
        )

    async def tree(self, workspace_id: uuid.UUID, at: int | None = None) -> dict[str, bytes]:
        listing = await self.queries.files(workspace_id, at)
        return {
            path: (await self.queries.file(workspace_id, path, at))[1] for path in listing.files
        }


def context() -> CommandContext:
    return CommandContext(actor="agent-factory", correlation_id=uuid.uuid4())


async def test_a_new_workspace_holds_its_initial_files_as_its_first_patch() -> None:
    h = Harness()
    workspace_id = await h.workspace(**{"app.py": "print('hi')\n"})
    summary = await h.queries.summary(workspace_id)
    assert (summary.version, summary.file_count, summary.patches_applied) == (2, 1, 1)
    assert await h.tree(workspace_id) == {"app.py": b"print('hi')\n"}


async def test_submissions_at_the_same_base_on_different_files_both_apply() -> None:
    h = Harness()
    ws = await h.workspace(a="1\n", b="2\n")
    first, second = await asyncio.gather(
        h.manager.submit(h.submission(ws, 2, WriteFile(path="a", content="A\n")), context()),
        h.manager.submit(h.submission(ws, 2, WriteFile(path="b", content="B\n")), context()),
    )
    assert {first.outcome, second.outcome} == {"applied"}
    assert {first.version, second.version} == {3, 4}
    assert await h.tree(ws) == {"a": b"A\n", "b": b"B\n"}


async def test_submissions_at_the_same_base_on_the_same_file_never_both_apply() -> None:
    h = Harness()
    ws = await h.workspace(a="1\n")
    first, second = await asyncio.gather(
        h.manager.submit(h.submission(ws, 2, WriteFile(path="a", content="X\n")), context()),
        h.manager.submit(h.submission(ws, 2, WriteFile(path="a", content="Y\n")), context()),
    )
    outcomes = sorted([first, second], key=lambda r: r.outcome)
    assert [r.outcome for r in outcomes] == ["applied", "rejected"]
    loser = outcomes[1]
    assert loser.reason == "stale_base"
    assert [(c.path, c.changed_in_version) for c in loser.conflicts] == [("a", 3)]
    assert (await h.tree(ws))["a"] in (b"X\n", b"Y\n")


async def test_a_write_of_identical_bytes_changes_nothing_and_makes_no_one_stale() -> None:
    h = Harness()
    ws = await h.workspace(a="1\n")
    same = await h.manager.submit(
        h.submission(ws, 2, WriteFile(path="a", content="1\n")), context()
    )
    assert (same.outcome, same.changes) == ("applied", [])
    later = await h.manager.submit(
        h.submission(ws, 2, WriteFile(path="a", content="2\n")), context()
    )
    assert later.outcome == "applied"  # base 2 is not stale: "a" did not change since


async def test_an_idempotent_retry_returns_the_first_outcome_and_records_nothing() -> None:
    h = Harness()
    ws = await h.workspace(a="1\n")
    submission = h.submission(ws, 2, WriteFile(path="a", content="2\n"), key="k-1")
    first = await h.manager.submit(submission, context())
    events = len(h.store.log)
    again = await h.manager.submit(submission, context())
    assert again.patch_id == first.patch_id
    assert again.duplicate
    assert not first.duplicate
    assert len(h.store.log) == events
    with pytest.raises(IdempotencyKeyReused):
        await h.manager.submit(
            h.submission(ws, 2, WriteFile(path="a", content="other\n"), key="k-1"), context()
        )


async def test_a_revert_restores_what_the_patch_changed_renames_included() -> None:
    h = Harness()
    ws = await h.workspace(a="1\n", b="2\n")
    patch = await h.manager.submit(
        h.submission(
            ws,
            2,
            EditFile(path="a", edits=[SearchReplace(search="1", replace="one")]),
            RenameFile(path="b", to="src/b"),
            CreateFile(path="c", content="new\n"),
        ),
        context(),
    )
    revert = await h.manager.revert(
        patch.patch_id, author="agent-factory", task_id="undo", message="", context=context()
    )
    assert revert.outcome == "reverted"
    assert revert.reverted_patch_id == patch.patch_id
    assert (revert.lines_added, revert.lines_removed) == (patch.lines_removed, patch.lines_added)
    assert await h.tree(ws) == {"a": b"1\n", "b": b"2\n"}


@pytest.mark.parametrize(
    "operations",
    [
        [RenameFile(path="a", to="t"), RenameFile(path="b", to="a"), RenameFile(path="t", to="b")],
        [RenameFile(path="a", to="moved"), CreateFile(path="a", content="1\n")],
    ],
    ids=["swap", "rename-and-recreate"],
)
async def test_renames_that_reuse_a_path_apply_and_revert_exactly(
    operations: list[PatchOperation],
) -> None:
    h = Harness()
    ws = await h.workspace(a="1\n", b="2\n")
    patch = await h.manager.submit(h.submission(ws, 2, *operations), context())
    assert patch.outcome == "applied"
    after = await h.tree(ws)
    assert after in ({"a": b"2\n", "b": b"1\n"}, {"a": b"1\n", "b": b"2\n", "moved": b"1\n"})
    await h.manager.revert(
        patch.patch_id, author="agent-factory", task_id="undo", message="", context=context()
    )
    assert await h.tree(ws) == {"a": b"1\n", "b": b"2\n"}
    # A fresh load (events replayed, no cache) agrees with the state the commands saw.
    assert await h.tree(ws, at=3) == after


async def test_a_revert_is_refused_when_later_patches_touched_the_same_files() -> None:
    h = Harness()
    ws = await h.workspace(a="1\n")
    patch = await h.manager.submit(
        h.submission(ws, 2, WriteFile(path="a", content="2\n")), context()
    )
    await h.manager.submit(h.submission(ws, 3, DeleteFile(path="a")), context())
    refused = await h.manager.revert(
        patch.patch_id, author="agent-factory", task_id="undo", message="", context=context()
    )
    assert refused.outcome == "rejected"
    assert refused.reason == "revert_conflict"
    assert [(c.path, c.changed_in_version) for c in refused.conflicts] == [("a", 4)]
    assert await h.tree(ws) == {}
    with pytest.raises(NotRevertible):
        await h.manager.revert(
            refused.patch_id, author="agent-factory", task_id="undo", message="", context=context()
        )


async def test_time_travel_by_version_and_by_moment() -> None:
    h = Harness()
    ws = await h.workspace(a="1\n")
    await h.manager.submit(h.submission(ws, 2, WriteFile(path="a", content="2\n")), context())
    moment = datetime.now(UTC)
    await h.manager.submit(h.submission(ws, 3, WriteFile(path="b", content="b\n")), context())
    assert await h.tree(ws, 2) == {"a": b"1\n"}
    assert (await h.queries.files(ws, moment)).version == 3
    diff = await h.queries.diff(ws, 2, 4)
    assert "diff --git a/a b/a\n" in diff
    assert "-1\n+2\n" in diff
    assert "new file mode 100644\n--- /dev/null\n+++ b/b\n" in diff
    with pytest.raises(VersionOutOfRange):
        await h.queries.files(ws, 9)


async def test_history_filters_by_author_task_and_outcome() -> None:
    h = Harness()
    ws = await h.workspace(a="1\n")
    await h.manager.submit(h.submission(ws, 2, DeleteFile(path="missing")), context())
    await h.manager.submit(h.submission(ws, 2, WriteFile(path="a", content="2\n")), context())
    rejected = (await h.queries.history(ws, outcome="rejected")).items
    assert [(r.reason, r.operation, r.path) for r in rejected] == [("file_missing", 0, "missing")]
    assert len((await h.queries.history(ws, task_id="task-1")).items) == 2
    assert len((await h.queries.history(ws, task_id="workspace-init")).items) == 1
    assert (await h.queries.history(ws, author="nobody")).items == []


async def test_history_pages_follow_their_cursor_to_the_end_without_overlap() -> None:
    h = Harness()
    ws = await h.workspace(a="0\n")
    for n in range(1, 8):
        await h.manager.submit(
            h.submission(ws, n + 1, WriteFile(path="a", content=f"{n}\n")), context()
        )
    seen: list[int] = []
    page = await h.queries.history(ws, limit=3)
    while True:
        seen += [record.version for record in page.items]
        assert page.as_of_position == h.store.log[-1].position
        if page.next_cursor is None:
            break
        page = await h.queries.history(ws, limit=3, cursor=page.next_cursor)
    assert seen == list(range(2, 10))  # the initial files, then seven patches
    events = await h.queries.events(ws, limit=4)
    rest = await h.queries.events(ws, limit=100, cursor=events.next_cursor)
    assert [e.stream_version for e in events.items + rest.items] == list(range(1, 10))
    assert rest.next_cursor is None


async def test_snapshots_bound_what_a_command_reads() -> None:
    h = Harness(snapshot_every=10)
    ws = await h.workspace(a="0\n")
    for n in range(1, 26):
        await h.manager.submit(
            h.submission(ws, n + 1, WriteFile(path="a", content=f"{n}\n")), context()
        )
    assert sorted(v for (_, v) in h.snapshots.saved) == [10, 20]
    assert await h.tree(ws) == {"a": b"25\n"}
    assert h.store.last_read_after == 20  # loaded from the snapshot, not from version 0
    # Version n + 2 holds patch n; time travel to 15 = snapshot 10 + 5 events.
    assert await h.tree(ws, 15) == {"a": b"13\n"}
