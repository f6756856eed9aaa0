"""Build a projection from the start of the log into a private schema.

`rebuild` then swaps the finished tables into the live schema in one transaction,
so readers see the old model until the commit and the whole new one after it. The
swap takes the checkpoint row lock, which the live runner takes for every batch:
it catches the new model up to the live checkpoint inside that transaction, so the
runner resumes exactly where the model now stands.

`build` alone, with `to_position`, is a point-in-time replay for forensics: the
model as it stood at that position, in a schema of its own, the live one untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from application.ports import EventStore
from infrastructure.pool import DbConnection, connect
from infrastructure.projections.model import LIVE_SCHEMA, Projection, create_tables, search_path

log = logging.getLogger(__name__)

#: Called with (events folded so far, events to fold in total).
Progress = Callable[[int, int], None]

BATCH: Final = 1000


def shadow_schema(projection: Projection) -> str:
    return f"vibehq_rebuild_{projection.name}"


async def build(
    conn: DbConnection,
    *,
    store: EventStore,
    projection: Projection,
    schema: str,
    to_position: int | None = None,
    progress: Progress | None = None,
) -> int:
    """Fold the log up to `to_position` (default: what is readable now) into `schema`.

    `conn`'s search_path must point at `schema`. Returns the last folded position.
    """
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await create_tables(conn, projection)
    limit = to_position if to_position is not None else await _head(conn)
    total = await conn.fetchval(
        "SELECT count(*) FROM vibehq_events WHERE notification_id <= $1", limit
    )
    position, done = 0, 0
    if progress:
        progress(0, total)
    while True:
        events = [
            e
            for e in await store.read_log(after_position=position, limit=BATCH)
            if e.position <= limit
        ]
        if not events:
            return position
        async with conn.transaction():
            await projection.apply(conn, events)
        position = events[-1].position
        done += len(events)
        if progress:
            progress(done, total)


async def rebuild(
    *,
    dsn: str,
    store: EventStore,
    projection: Projection,
    progress: Progress | None = None,
) -> int:
    """Rebuild the live model from scratch without readers seeing it half-built.

    Returns the checkpoint position the new model was swapped in at.
    """
    schema = shadow_schema(projection)
    conn = await connect(dsn, server_settings=search_path(schema))
    try:
        position = await build(
            conn, store=store, projection=projection, schema=schema, progress=progress
        )
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO vibehq_checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING",
                projection.name,
            )
            live: int = await conn.fetchval(
                "SELECT position FROM vibehq_checkpoints WHERE name = $1 FOR UPDATE",
                projection.name,
            )
            while position < live:  # the live model moved on while we built: catch up
                events = [
                    e
                    for e in await store.read_log(after_position=position, limit=BATCH)
                    if e.position <= live
                ]
                if not events:
                    break
                await projection.apply(conn, events)
                position = events[-1].position
            position = max(position, live)
            for table in projection.tables:
                await conn.execute(f'DROP TABLE IF EXISTS "{LIVE_SCHEMA}"."{table}" CASCADE')
                await conn.execute(f'ALTER TABLE "{schema}"."{table}" SET SCHEMA "{LIVE_SCHEMA}"')
            await conn.execute(
                "UPDATE vibehq_checkpoints SET position = $2, model_version = $3, "
                "updated_at = now() WHERE name = $1",
                projection.name,
                position,
                projection.version,
            )
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        log.info("projection %s: rebuilt and swapped in at position %d", projection.name, position)
        return position
    finally:
        await conn.close()


async def _head(conn: DbConnection) -> int:
    head: int = await conn.fetchval(
        "SELECT coalesce(max(notification_id), 0) FROM vibehq_events "
        "WHERE notification_id < vibehq_watermark()"
    )
    return head


def replay_schema(projection: Projection) -> str:
    return f"vibehq_replay_{projection.name}"


async def replay(
    *,
    dsn: str,
    store: EventStore,
    projection: Projection,
    to_position: int,
    progress: Progress | None = None,
) -> tuple[str, int, int]:
    """The model as it stood at `to_position`, in `replay_schema(projection)`.

    Built under a temporary name and renamed at the end: an interrupted replay leaves
    the previous replay (or none) in place, never a half-built one. Returns the schema,
    the last folded position and how many events the log holds up to it.
    """
    schema = replay_schema(projection)
    building = f"{schema}__building"
    conn = await connect(dsn, server_settings=search_path(building))
    try:
        last = await build(
            conn,
            store=store,
            projection=projection,
            schema=building,
            to_position=to_position,
            progress=progress,
        )
        async with conn.transaction():
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await conn.execute(f'ALTER SCHEMA "{building}" RENAME TO "{schema}"')
        events: int = await conn.fetchval(
            "SELECT count(*) FROM vibehq_events WHERE notification_id <= $1", last
        )
    finally:
        await conn.close()
    return schema, last, events
