"""The aggregate and content caches: commands read nothing back, and stay right when stale."""

from __future__ import annotations

import uuid

import pytest

from application.aggregates import AggregateRepository, CommandContext
from application.caches import AggregateCache, ContentCache
from application.patch_manager import PatchManager
from application.workspace_queries import WorkspaceQueries
from domain.contracts import CreateFile, NewWorkspace, PatchSubmission, WriteFile
from domain.workspace import WorkspaceArchived
from tests.unit.fakes import InMemoryBlobStore, InMemoryEventStore, InMemorySnapshotStore


def context() -> CommandContext:
    return CommandContext(actor="agent-factory", correlation_id=uuid.uuid4())


class Process:
    """One server process: its own caches over the shared store."""

    def __init__(self, store: InMemoryEventStore, *, cached: bool = True) -> None:
        self.blobs = InMemoryBlobStore(store)
        self.cache = AggregateCache(100 if cached else 0)
        repository = AggregateRepository(store, snapshots=InMemorySnapshotStore(), cache=self.cache)
        self.manager = PatchManager(
            store, self.blobs, repository, contents=ContentCache(1 << 20 if cached else 0)
        )
        self.queries = WorkspaceQueries(store, self.blobs, repository)


def write(
    workspace_id: uuid.UUID, base: int, content: str, key: str | None = None
) -> PatchSubmission:
    return PatchSubmission(
        workspace_id=workspace_id,
        base_version=base,
        author="agent-factory",
        task_id="task-1",
        idempotency_key=key,
        operations=[WriteFile(path="a.txt", content=content)],
    )


async def new_workspace(process: Process) -> tuple[uuid.UUID, int]:
    summary = await process.manager.create_workspace(
        NewWorkspace(name="w", files=[CreateFile(path="a.txt", content="0\n")]), context()
    )
    return summary.id, summary.version


async def test_a_repeat_submission_reads_neither_events_nor_contents_back() -> None:
    store = InMemoryEventStore()
    process = Process(store)
    workspace_id, version = await new_workspace(process)
    reads, fetches = store.reads, process.blobs.fetches
    for n in range(1, 6):
        record = await process.manager.submit(write(workspace_id, version, f"{n}\n"), context())
        assert record.outcome == "applied"
        assert record.lines_added == record.lines_removed == 1  # the old content was known
        version = record.version
    assert (store.reads, process.blobs.fetches) == (reads, fetches)
    # The answer built from memory is what the store holds.
    stored = await process.queries.patch(record.patch_id)
    assert stored == record


async def test_without_the_cache_every_submission_loads_the_workspace() -> None:
    store = InMemoryEventStore()
    process = Process(store, cached=False)
    workspace_id, version = await new_workspace(process)
    reads = store.reads
    await process.manager.submit(write(workspace_id, version, "1\n"), context())
    assert store.reads > reads


async def test_a_stale_cached_workspace_costs_a_retry_not_a_wrong_outcome() -> None:
    store = InMemoryEventStore()
    first, second = Process(store), Process(store)
    workspace_id, version = await new_workspace(first)
    await second.manager.submit(write(workspace_id, version, "warm\n"), context())
    version += 1
    # Both processes now cache the workspace; each submission makes the other's stale.
    expected = "warm\n"
    for n in range(10):
        process = (first, second)[n % 2]
        record = await process.manager.submit(write(workspace_id, version, f"{n}\n"), context())
        assert (record.outcome, record.version) == ("applied", version + 1)
        assert record.lines_removed == 1
        assert record.changes[0].before is not None
        expected, version = f"{n}\n", record.version
    _, content, _ = await first.queries.file(workspace_id, "a.txt", None)
    assert content == expected.encode()
    # A stale base is still refused, judged on the store's state, not the cache's.
    stale = await second.manager.submit(write(workspace_id, version - 1, "late\n"), context())
    assert (stale.outcome, stale.reason) == ("rejected", "stale_base")


async def test_a_retry_returns_the_first_outcome_even_from_another_process() -> None:
    store = InMemoryEventStore()
    first, second = Process(store), Process(store)
    workspace_id, version = await new_workspace(first)
    original = await first.manager.submit(write(workspace_id, version, "1\n", key="k"), context())
    events = len(store.log)
    for process in (first, second, first):
        retry = await process.manager.submit(
            write(workspace_id, version, "1\n", key="k"), context()
        )
        assert retry.duplicate
        assert retry.patch_id == original.patch_id
        assert retry.version == original.version
    assert len(store.log) == events
    # The cache survived the retries: the next submission applies at the next version.
    record = await first.manager.submit(write(workspace_id, version + 1, "2\n"), context())
    assert record.version == original.version + 1


async def test_a_retry_after_the_workspace_was_archived_still_gets_its_outcome() -> None:
    store = InMemoryEventStore()
    process = Process(store)
    workspace_id, version = await new_workspace(process)
    original = await process.manager.submit(write(workspace_id, version, "1\n", key="k"), context())
    await process.manager.archive(workspace_id, context())
    retry = await process.manager.submit(write(workspace_id, version, "1\n", key="k"), context())
    assert retry.duplicate
    assert retry.patch_id == original.patch_id
    with pytest.raises(WorkspaceArchived):
        await process.manager.submit(write(workspace_id, version, "1\n", key="new"), context())


def test_the_content_cache_keeps_within_its_byte_budget() -> None:
    cache = ContentCache(max_bytes=10)
    cache.add({"a": b"12345", "b": b"12345"})
    cache.add({"c": b"1234"})  # evicts the least recently used
    assert cache.found(["a", "b", "c"]) == {"b": b"12345", "c": b"1234"}
    cache.add({"huge": b"x" * 11})  # larger than the whole budget: not kept
    assert cache.found(["huge"]) == {}
    assert ContentCache(0).found(["b"]) == {}
