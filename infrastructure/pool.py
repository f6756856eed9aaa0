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

from typing import Any, Final, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from infrastructure.database_url import server_address

#: Errors that mean "PostgreSQL is away, or going away": a follower reconnects and
#: carries on, a request is answered 503 with Retry-After (interfaces/http/outage.py).
UNAVAILABLE: Final = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # admin or crash shutdown, starting up
)

#: How long connecting to PostgreSQL may take before it counts as unreachable (a
#: firewall that drops packets would otherwise hold a start-up for a minute).
CONNECT_TIMEOUT: Final = 5.0


class NoAnswer(OSError):
    """PostgreSQL did not answer a connection attempt in time (str(): one line)."""


#: What a function that runs SQL takes: a connection of its own or one borrowed from a pool.
DbConnection: TypeAlias = asyncpg.Connection | PoolConnectionProxy


async def _keep_session(_: asyncpg.Connection) -> None:
    """The reset hook: nothing to undo (see the module docstring)."""


async def connect(database_url: str, **options: Any) -> asyncpg.Connection:
    """A connection of its own, or NoAnswer within CONNECT_TIMEOUT seconds."""
    try:
        return await asyncpg.connect(database_url, timeout=CONNECT_TIMEOUT, **options)
    except TimeoutError:
        raise _no_answer(database_url) from None


async def open_pool(database_url: str, *, max_size: int, min_size: int = 1) -> asyncpg.Pool:
    try:
        return await asyncpg.create_pool(
            database_url,
            min_size=min_size,
            max_size=max_size,
            reset=_keep_session,
            timeout=CONNECT_TIMEOUT,
        )
    except TimeoutError:
        raise _no_answer(database_url) from None


def _no_answer(database_url: str) -> NoAnswer:
    address = server_address(database_url)
    return NoAnswer(
        f"PostgreSQL at {address.host}:{address.port} did not answer within "
        f"{CONNECT_TIMEOUT:g}s; check VIBEHQ_DATABASE_URL and the network"
    )
