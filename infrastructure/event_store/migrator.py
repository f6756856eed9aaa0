"""Versioned SQL migrations: `migrations/NNNN_name.sql`, applied once each, in order.

Every process may call `migrate` at start-up: an advisory lock lets one apply while
the others wait and then find nothing to do. A checksum per applied file refuses a
database whose history was edited after the fact instead of silently diverging.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

from infrastructure.event_store.partitions import add_partitions
from infrastructure.pool import DbConnection

log = logging.getLogger(__name__)

_MIGRATION_LOCK = 0x7669_6265_6871  # "vibehq", arbitrary but fixed
_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    """The database's migration history does not match this code."""


def available_migrations() -> list[Migration]:
    """The migrations shipped with this package, in version order."""
    folder = resources.files("infrastructure.event_store") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(
                Migration(int(match["version"]), match["name"], entry.read_text(encoding="utf-8"))
            )
    found.sort(key=lambda m: m.version)
    return found


async def _ensure_history_table(conn: DbConnection) -> None:
    await conn.execute(
        """
        CREATE TABLE IF NOT EXISTS vibehq_schema_migrations (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            checksum   text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


async def _applied(conn: DbConnection) -> dict[int, str]:
    exists = await conn.fetchval("SELECT to_regclass('vibehq_schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT version, checksum FROM vibehq_schema_migrations")
    return {row["version"]: row["checksum"] for row in rows}


def _check_history(applied: dict[int, str], shipped: list[Migration]) -> None:
    by_version = {m.version: m for m in shipped}
    for version, checksum in sorted(applied.items()):
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(
                f"database has migration {version:04d}, which this version of vibehq does not "
                "know: it was migrated by a newer release; upgrade vibehq"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {version:04d}_{migration.name} was changed after it was applied; "
                "ship schema changes as a new migration file instead"
            )


async def pending_migrations(conn: DbConnection) -> list[Migration]:
    """Migrations not yet applied to this database (raises MigrationError on a bad history)."""
    shipped = available_migrations()
    applied = await _applied(conn)
    _check_history(applied, shipped)
    return [m for m in shipped if m.version not in applied]


async def migrate(conn: DbConnection) -> list[Migration]:
    """Apply every pending migration, each in its own transaction. Returns what was applied."""
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await _ensure_history_table(conn)
        todo = await pending_migrations(conn)
        for migration in todo:
            log.info("applying migration %04d_%s", migration.version, migration.name)
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO vibehq_schema_migrations (version, name, checksum) "
                    "VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
        await conn.execute("SELECT vibehq_raise_position_floor()")
        try:
            await add_partitions(conn)
        except asyncpg.LockNotAvailableError:  # a long transaction: the worker goes on
            log.warning("partitions ahead not made: the event log is busy; the worker retries")
        return todo
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
