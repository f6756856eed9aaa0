"""What every use case's commands share: the load-decide-append loop and idempotency.

`execute` loads the aggregate (or starts it), lets it decide, and appends at the
version it was loaded at; when another command got there first, it decides again on
the newer state. `record_new` records an aggregate that is born whole (a signal).
With an idempotency key, scoped per command and target by `scoped`, both recall the
first outcome instead of deciding twice; the answer then says `duplicate`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar
from uuid import UUID

import msgspec
from eventsourcing.domain import Aggregate

from application.aggregates import AggregateNotFound, AggregateRepository, CommandContext
from application.ports import AppendResult, ConcurrencyConflict, EventStore
from domain.contracts import Recorded
from domain.errors import Busy

A = TypeVar("A", bound=Aggregate)

#: How often one command re-decides after losing a race before giving up.
MAX_ATTEMPTS = 20


class TooMuchContention(Busy):
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


async def record_new(
    store: EventStore,
    repository: AggregateRepository,
    new: Callable[[], Aggregate],
    context: CommandContext,
) -> AppendResult:
    """Record a new aggregate of its own stream (nothing to decide against), at most once
    per idempotency key."""
    if context.idempotency_key is not None:
        prior = await store.recall(context.idempotency_key, context.request_hash)
        if prior is not None:
            return prior
    return await repository.save(new(), context)


def request_hash(*parts: msgspec.Struct | str) -> bytes:
    """What makes two requests "the same" for idempotency."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else msgspec.json.encode(part))
        digest.update(b"\x00")
    return digest.digest()


def scoped(context: CommandContext, scope: str, *parts: msgspec.Struct | str) -> CommandContext:
    """The context with its idempotency key scoped to one command, target and actor.

    The same key sent to another command, target or by another actor is another
    request; `parts` (the body) tell a true retry from a key reused for other work.
    """
    if context.idempotency_key is None:
        return context
    return msgspec.structs.replace(
        context,
        idempotency_key=f"{scope}:{context.actor}:{context.idempotency_key}",
        request_hash=request_hash(*parts),
    )


def recorded(result: AppendResult) -> Recorded:
    return Recorded(
        stream_id=result.stream_id,
        version=result.last_version,
        position=result.last_position,
        recorded_at=result.recorded_at,
        duplicate=result.duplicate,
    )
