"""A server process's startup objects are left out of later full collections.

That is what keeps a worker's full garbage collection short (interfaces/gc_pauses.py);
what the process makes afterwards must still be collected, or it would leak.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from interfaces.gc_pauses import freeze_startup_objects


@pytest.fixture
def thawed() -> Iterator[None]:
    yield
    gc.unfreeze()


def _in_a_generation(target: object) -> bool:
    return any(o is target for generation in range(3) for o in gc.get_objects(generation))


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_objects_alive_at_startup_are_skipped_by_later_collections(thawed: None) -> None:
    startup = {"routes": [object()]}
    assert _in_a_generation(startup)

    frozen = freeze_startup_objects()

    assert frozen > 0
    assert not _in_a_generation(startup)
    gc.collect()
    assert gc.get_freeze_count() >= frozen  # a full collection does not thaw them


def test_cycles_made_after_startup_are_still_collected(thawed: None) -> None:
    freeze_startup_objects()
    gc.collect()
    _Node()
    assert gc.collect() >= 1
