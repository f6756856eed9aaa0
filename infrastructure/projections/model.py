"""What a projection is: named tables, their DDL, and a fold over a batch of events.

A projection's SQL names its tables unqualified. The connection that runs it sets
`search_path`, so the same code fills the live schema (`vibehq_read`) or a private
rebuild schema; that is what makes shadow rebuilds and point-in-time replays free.
A projection must derive everything from the events (times from `recorded_at`, never
`now()`), so that a rebuild gives the same rows as the live model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol

from application.ports import RecordedEvent
from infrastructure.pool import DbConnection

LIVE_SCHEMA: Final = "vibehq_read"


class Projection(Protocol):
    @property
    def name(self) -> str:
        """Unique; also the checkpoint's name."""
        ...

    @property
    def version(self) -> int:
        """Raise it when the tables or the fold change: the runner then rebuilds the model."""
        ...

    @property
    def tables(self) -> Sequence[str]:
        """Tables it owns, moved together by a rebuild's swap."""
        ...

    @property
    def ddl(self) -> Sequence[str]:
        """`CREATE TABLE IF NOT EXISTS` / `CREATE INDEX IF NOT EXISTS`, unqualified."""
        ...

    async def apply(self, conn: DbConnection, events: Sequence[RecordedEvent]) -> None:
        """Fold `events` (in log order) into the tables, inside the caller's transaction."""
        ...


def search_path(schema: str) -> dict[str, str]:
    """Connection settings that point unqualified names at `schema`."""
    return {"search_path": f"{schema}, public"}


#: Advisory lock key serialising read-model DDL across processes: `CREATE TABLE IF NOT
#: EXISTS` is not safe when two sessions run it at once (both may try to create).
DDL_LOCK: Final = 0x76686464


async def create_tables(conn: DbConnection, projection: Projection) -> None:
    """Create the projection's tables in the connection's current schema."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", DDL_LOCK)
        for statement in projection.ddl:
            await conn.execute(statement)
