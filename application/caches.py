"""In-process caches that spare a command its reads, each safe because of what it holds.

A busy factory submits patch after patch to one workspace. Loading that workspace
(snapshot plus recent events, decoded through the eventsourcing mapper) and fetching
the old contents of the files it rewrites were most of a submission's cost, and both
are answers the process already had a moment ago.

- `AggregateCache` keeps the aggregate a command just saved. The next command *takes*
  it out (two concurrent commands never share one mutable object) and decides on it.
  If another process changed the stream meanwhile, the append's version check refuses
  and the command reloads from the store: a stale entry costs one retry, never a
  wrong outcome.
- `ContentCache` holds file contents by sha256. The key is the hash of the value, so
  an entry can never be wrong, only missing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from uuid import UUID

from cachetools import LRUCache
from eventsourcing.domain import Aggregate


class AggregateCache:
    """The latest saved aggregates, by id; least recently used ones are dropped first."""

    def __init__(self, max_aggregates: int) -> None:
        self._entries: LRUCache[UUID, Aggregate] | None = (
            LRUCache(maxsize=max_aggregates) if max_aggregates > 0 else None
        )

    def take(self, aggregate_id: UUID) -> Aggregate | None:
        """Remove and return the aggregate; the caller owns it until it `keep`s it again."""
        if self._entries is None:
            return None
        return self._entries.pop(aggregate_id, None)

    def keep(self, aggregate: Aggregate) -> None:
        """Remember an aggregate whose every event is stored (none pending)."""
        if self._entries is not None:
            self._entries[aggregate.id] = aggregate

    def __len__(self) -> int:
        return 0 if self._entries is None else len(self._entries)


class ContentCache:
    """File contents by sha256, bounded by their total size in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._entries: LRUCache[str, bytes] | None = (
            LRUCache(maxsize=max_bytes, getsizeof=len) if max_bytes > 0 else None
        )

    def found(self, hashes: Iterable[str]) -> dict[str, bytes]:
        """The contents of those hashes this cache holds."""
        if self._entries is None:
            return {}
        entries = self._entries
        return {sha: entries[sha] for sha in hashes if sha in entries}

    def add(self, contents: Mapping[str, bytes]) -> None:
        if self._entries is None:
            return
        for sha, content in contents.items():
            if len(content) <= self._max_bytes:
                self._entries[sha] = content
