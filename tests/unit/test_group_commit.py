"""How `GroupCommit` forms groups: with a recording runner, no database involved."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from infrastructure.event_store.group_commit import GroupCommit

#: An item: (name, stream). Two items of one group must not share a stream.
Item = tuple[str, str]


class Runner:
    """Records the groups it is given; each takes `delay` seconds; "bad" items fail alone."""

    def __init__(self, delay: float = 0.01) -> None:
        self.groups: list[list[str]] = []
        self.delay = delay
        self.fail_group: Exception | None = None

    async def __call__(self, items: Sequence[Item]) -> list[str | BaseException]:
        self.groups.append([name for name, _ in items])
        await asyncio.sleep(self.delay)
        if self.fail_group is not None:
            raise self.fail_group
        return [ValueError(name) if name.startswith("bad") else f"done {name}" for name, _ in items]


def committer(
    runner: Runner, *, in_flight: int = 1, max_group: int = 100
) -> GroupCommit[Item, str]:
    return GroupCommit(
        runner, lambda item: (item[1],), max_group=max_group, max_in_flight=in_flight
    )


async def test_an_append_on_an_idle_store_goes_alone_at_once() -> None:
    runner = Runner()
    groups = committer(runner)

    assert await groups.submit(("a", "s1")) == "done a"
    assert await groups.submit(("b", "s2")) == "done b"

    assert runner.groups == [["a"], ["b"]]


async def test_appends_arriving_while_one_is_on_its_way_leave_together() -> None:
    runner = Runner()
    groups = committer(runner)

    results = await asyncio.gather(*(groups.submit((f"w{n}", f"s{n}")) for n in range(6)))

    assert results == [f"done w{n}" for n in range(6)]
    assert runner.groups == [["w0"], ["w1", "w2", "w3", "w4", "w5"]]
    assert (groups.groups, groups.items) == (2, 6)


async def test_two_appends_to_one_stream_never_share_a_group_and_keep_their_order() -> None:
    runner = Runner()
    groups = committer(runner)

    await asyncio.gather(
        groups.submit(("first", "busy")),
        groups.submit(("x1", "x")),
        groups.submit(("y", "y")),
        groups.submit(("x2", "x")),
        groups.submit(("x3", "x")),
    )

    assert runner.groups == [["first"], ["x1", "y"], ["x2"], ["x3"]]


async def test_queued_appends_spread_over_every_free_slot() -> None:
    runner = Runner()
    groups = committer(runner, in_flight=2)

    # "a" and "b" take both slots; the six after them wait, then share the two slots.
    await asyncio.gather(*(groups.submit((name, name)) for name in "abcdefgh"))

    assert runner.groups == [["a"], ["b"], ["c", "d", "e"], ["f", "g", "h"]]


async def test_a_group_never_exceeds_its_limit() -> None:
    runner = Runner()
    groups = committer(runner, max_group=3)

    await asyncio.gather(*(groups.submit((f"w{n}", f"s{n}")) for n in range(8)))

    assert [len(group) for group in runner.groups] == [1, 3, 3, 1]


async def test_each_caller_gets_its_own_outcome_and_a_failed_group_fails_every_caller() -> None:
    runner = Runner()
    groups = committer(runner)

    outcomes = await asyncio.gather(
        groups.submit(("ok0", "s0")),
        groups.submit(("bad", "s1")),
        groups.submit(("ok2", "s2")),
        return_exceptions=True,
    )
    assert outcomes[0] == "done ok0"
    assert outcomes[2] == "done ok2"
    assert isinstance(outcomes[1], ValueError)

    runner.fail_group = ConnectionError("server gone")
    failed = await asyncio.gather(
        groups.submit(("a", "s0")), groups.submit(("b", "s1")), return_exceptions=True
    )
    assert [type(outcome) for outcome in failed] == [ConnectionError, ConnectionError]


async def test_an_append_whose_caller_gave_up_before_it_left_is_never_sent() -> None:
    runner = Runner()
    groups = committer(runner)
    first = asyncio.create_task(groups.submit(("first", "s0")))
    await asyncio.sleep(0)
    abandoned = asyncio.create_task(groups.submit(("abandoned", "s1")))
    kept = asyncio.create_task(groups.submit(("kept", "s2")))
    await asyncio.sleep(0)
    abandoned.cancel()

    assert await kept == "done kept"
    await first
    assert ["abandoned"] not in runner.groups
    assert all("abandoned" not in group for group in runner.groups)


async def test_drain_waits_until_every_submitted_append_has_run() -> None:
    runner = Runner(delay=0.05)
    groups = committer(runner)
    tasks = [asyncio.create_task(groups.submit((f"w{n}", f"s{n}"))) for n in range(3)]
    await asyncio.sleep(0.01)  # w0 is on its way; w1 and w2 wait for it

    await groups.drain()

    assert runner.groups == [["w0"], ["w1", "w2"]]
    await asyncio.sleep(0)  # let the callers see their results
    assert all(task.done() for task in tasks)


def test_limits_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        committer(Runner(), in_flight=0)
