"""The load-decide-append loop shared by use cases whose aggregates have no blobs.

Load the aggregate (or start it), let it decide, append at the version it was loaded
at; when another command got there first, decide again on the newer state. With an
idempotency key the first outcome is recalled instead of deciding twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from application.aggregates import AggregateNotFound, AggregateRepository, CommandContext
from application.ports import AppendResult, ConcurrencyConflict, EventStore
from domain.contracts import Recorded

A = TypeVar("A", bound=Aggregate)

#: How often one command re-decides after losing a race before giving up.
MAX_ATTEMPTS = 20


class TooMuchContention(RuntimeError):
    """The aggregate kept changing under this command; the client should retry later."""


async def execute(
    store: EventStore,
    repository: AggregateRepository,
    cls: type[A],
    aggregate_id: UUID,
    *,
    change: Callable[[A], None],
    context: CommandContext,
    start: Callable[[], A] | None = None,
) -> AppendResult:
    """Run `change` on the aggregate, or, if it has no events yet, record `start()`.

    `start` returns a new aggregate with every event the command decided (its creation
    included). `change` raises to refuse; nothing is recorded then.
    """
    if context.idempotency_key is not None:
        prior = await store.recall(context.idempotency_key, context.request_hash)
        if prior is not None:
            return prior
    for _ in range(MAX_ATTEMPTS):
        try:
            aggregate = await repository.checkout(aggregate_id, cls)
        except AggregateNotFound:
            if start is None:
                raise
            aggregate = start()
        else:
            change(aggregate)
        try:
            return await repository.save(aggregate, context)
        except ConcurrencyConflict:
            continue
    raise TooMuchContention(
        f"{cls.__name__} {aggregate_id} changed {MAX_ATTEMPTS} times while this command "
        "was being decided; retry it (with the same idempotency key)"
    )


def recorded(result: AppendResult) -> Recorded:
    return Recorded(
        stream_id=result.stream_id,
        version=result.last_version,
        position=result.last_position,
        recorded_at=result.recorded_at,
        duplicate=result.duplicate,
    )
