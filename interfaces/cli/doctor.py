"""`vibehq doctor`: every dependency checked in turn, each problem with its fix."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import nats

from infrastructure.embedded.common import EngineError
from infrastructure.health import Check, check_migrations, check_nats, check_postgres
from infrastructure.settings import Settings, data_folder
from interfaces.composition import open_engines


def _line(check: Check) -> str:
    mark = "ok  " if check.ok else "FAIL"
    text = f"[{mark}] {check.name:11} {check.detail}"
    return text if check.ok else f"{text}\n       fix: {check.fix}"


async def diagnose(settings: Settings, say: Callable[[str], object]) -> bool:
    """Print one line per check; True when everything is usable."""
    say(f"[ok  ] settings    data folder {data_folder(settings)}")
    try:
        engines = await open_engines(settings)
    except EngineError as error:
        say(_line(Check("engines", False, str(error), "see the message above")))
        return False
    checks: list[Check] = []
    try:
        try:
            pool = await asyncpg.create_pool(engines.database_url, min_size=1, max_size=2)
        except (OSError, asyncpg.PostgresError) as error:
            checks.append(
                Check("postgres", False, f"unreachable: {error}", "check VIBEHQ_DATABASE_URL")
            )
        else:
            try:
                checks += [await check_postgres(pool), await check_migrations(pool)]
            finally:
                await pool.close()
        try:
            client = await nats.connect(
                engines.nats_url, connect_timeout=3, max_reconnect_attempts=0
            )
        except Exception as error:  # noqa: BLE001 - nats raises many types for "cannot connect"
            checks.append(Check("nats", False, f"unreachable: {error}", "check VIBEHQ_NATS_URL"))
        else:
            try:
                checks.append(await check_nats(client))
            finally:
                await client.close()
    finally:
        engines.stop()
    for check in checks:
        say(_line(check))
    return all(check.ok for check in checks)
