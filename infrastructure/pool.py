"""The asyncpg pool the service's requests share.

asyncpg resets every connection it takes back: a round trip running
`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`. Nothing that borrows
from this pool leaves session state behind: LISTEN and the followers' lease locks live
on connections of their own, `set_config` is only ever transaction-local, and no code
declares cursors outside a transaction. So the pool skips that query, which was one
round trip in three on the patch path. asyncpg still rolls back a transaction left open
and drops listeners before a connection is reused.
"""

from __future__ import annotations

from typing import Final, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

#: Errors that mean "PostgreSQL is away, or going away": a follower reconnects and
#: carries on, a request is answered 503 with Retry-After (interfaces/http/outage.py).
UNAVAILABLE: Final = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # admin or crash shutdown, starting up
)

#: What a function that runs SQL takes: a connection of its own or one borrowed from a pool.
DbConnection: TypeAlias = asyncpg.Connection | PoolConnectionProxy


async def _keep_session(_: asyncpg.Connection) -> None:
    """The reset hook: nothing to undo (see the module docstring)."""


async def open_pool(database_url: str, *, max_size: int) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        database_url, min_size=1, max_size=max_size, reset=_keep_session
    )
