"""Which concurrent appends travel together, and when.

An append that arrives while the store has fewer than `max_in_flight` groups on their
way goes at once, alone: an idle store adds no wait. One that arrives while they are all
busy waits for the next group to leave, and leaves with everything else that queued up
meanwhile. So a group grows with the load instead of with a timer, and the number of
commits per second stops growing with the number of writers.

A group never holds two appends to one stream or with one idempotency key: the second
one's outcome depends on the first, so it waits for the next group.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


class GroupCommit(Generic[Item, Outcome]):
    """Queues items and runs them in groups through `run_group`.

    `run_group` returns one outcome per item, in order: a value, or an exception for
    that item's caller alone. If it raises, every caller of the group gets the error.
    `keys_of(item)` names what two items of one group must not share (None: nothing).
    """

    def __init__(
        self,
        run_group: Callable[[Sequence[Item]], Awaitable[Sequence[Outcome | BaseException]]],
        keys_of: Callable[[Item], Sequence[object]],
        *,
        max_group: int,
        max_in_flight: int,
    ) -> None:
        if max_group < 1 or max_in_flight < 1:
            raise ValueError("max_group and max_in_flight must be at least 1")
        self._run_group = run_group
        self._keys_of = keys_of
        self._max_group = max_group
        self._max_in_flight = max_in_flight
        self._pending: list[tuple[Item, asyncio.Future[Outcome]]] = []
        self._in_flight = 0
        self._dispatch_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        #: How many groups ran and how many items they held (tests and profiling read them).
        self.groups = 0
        self.items = 0

    async def submit(self, item: Item) -> Outcome:
        """The item's outcome once its group has run (or its exception, raised)."""
        if (
            not self._pending
            and not self._dispatch_scheduled
            and self._in_flight < self._max_in_flight
        ):
            return await self._run_alone(item)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._dispatch_soon()
        return await future

    async def _run_alone(self, item: Item) -> Outcome:
        """A group of one, in the caller's own task: no hand-over when nothing waits."""
        self._in_flight += 1
        try:
            (outcome,) = await self._run_group([item])
            self.groups += 1
            self.items += 1
        finally:
            self._in_flight -= 1
            self._dispatch_soon()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def drain(self) -> None:
        """Wait until every append submitted so far has run (for an orderly close)."""
        while self._in_flight or self._pending:
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            else:  # a group of one runs in its caller's task
                await asyncio.sleep(0.001)

    def _dispatch_soon(self, *, released: bool = False) -> None:
        """Dispatch on the loop's next turn, after every caller woken on this one.

        The callers a finished group `released` typically submit their next append in
        that turn; were the first of them to leave at once, alone, the rest would wait
        for it. Until the dispatch, nobody leaves alone.
        """
        if (self._pending or released) and not self._dispatch_scheduled:
            self._dispatch_scheduled = True
            asyncio.get_running_loop().call_soon(self._dispatch)

    def _dispatch(self) -> None:
        self._dispatch_scheduled = False
        while self._pending and self._in_flight < self._max_in_flight:
            free = self._max_in_flight - self._in_flight
            group = self._take_group(-(-len(self._pending) // free))
            if not group:
                return
            self._in_flight += 1
            task = asyncio.create_task(self._run(group), name="event-store-group")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take_group(self, size: int) -> list[tuple[Item, asyncio.Future[Outcome]]]:
        group: list[tuple[Item, asyncio.Future[Outcome]]] = []
        left: list[tuple[Item, asyncio.Future[Outcome]]] = []
        taken: set[object] = set()
        for entry in self._pending:
            item, future = entry
            if future.done():  # its caller gave up before it left: never record it
                continue
            keys = [key for key in self._keys_of(item) if key is not None]
            if len(group) >= min(size, self._max_group) or taken.intersection(keys):
                left.append(entry)
                continue
            taken.update(keys)
            group.append(entry)
        self._pending = left
        return group

    async def _run(self, group: list[tuple[Item, asyncio.Future[Outcome]]]) -> None:
        try:
            outcomes: Sequence[Outcome | BaseException]
            try:
                outcomes = await self._run_group([item for item, _ in group])
            except asyncio.CancelledError:
                for _, future in group:
                    future.cancel()
                raise
            except Exception as error:  # noqa: BLE001 - every caller of the group gets it
                outcomes = [error] * len(group)
            self.groups += 1
            self.items += len(group)
            for (_, future), outcome in zip(group, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
        finally:
            self._in_flight -= 1
            with contextlib.suppress(RuntimeError):  # the loop is closing
                self._dispatch_soon(released=True)
