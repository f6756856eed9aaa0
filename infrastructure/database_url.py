"""PostgreSQL URLs in either form we hand out: `host:port`, or a Unix-socket directory.

The embedded server gives our processes a socket URL (`postgresql://user@/db?host=DIR&port=N`,
the form asyncpg, libpq and psql all read). Code that derives one URL from another, or
hands the parts to a client that takes them one by one (the eventsourcing library's
recorder), goes through here so both forms keep working.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit, urlunsplit


@dataclass(frozen=True)
class ServerAddress:
    """Where a URL points, as libpq-style keyword parameters."""

    host: str  # a hostname or, for a Unix socket, its directory
    port: int
    user: str
    password: str
    database: str


def with_database(url: str, database: str) -> str:
    """The same server and options, another database."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def server_address(url: str) -> ServerAddress:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "127.0.0.1"])[0]
    port = int(query.get("port", [parts.port or 5432])[0])
    return ServerAddress(
        host=host,
        port=port,
        user=parts.username or "postgres",
        password=parts.password or "",
        database=parts.path.lstrip("/") or "postgres",
    )
