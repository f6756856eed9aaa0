"""Decide where PostgreSQL and NATS come from: the URLs in settings, or embedded servers.

With a URL set we start nothing. Without one we start, or adopt an already running,
embedded server in the data folder, and on `stop()` end only the ones we started.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from infrastructure.embedded.common import EngineError
from infrastructure.embedded.nats import EmbeddedNats
from infrastructure.embedded.postgres import EmbeddedPostgres

log = logging.getLogger(__name__)


@dataclass
class Engines:
    database_url: str
    nats_url: str
    embedded: list[EmbeddedPostgres | EmbeddedNats] = field(default_factory=list)

    def stop(self) -> None:
        """Stop the embedded servers this process started, newest first."""
        for engine in reversed(self.embedded):
            try:
                engine.stop()
            except Exception as error:  # noqa: BLE001 - keep stopping the others
                log.warning("could not stop %s: %s", type(engine).__name__, error)


def start_engines(*, database_url: str | None, nats_url: str | None, data_dir: Path) -> Engines:
    """Connect to the configured servers, embedding whichever is not configured."""
    embedded: list[EmbeddedPostgres | EmbeddedNats] = []
    try:
        if database_url is None:
            postgres = EmbeddedPostgres(data_dir.resolve() / "postgres")
            if not (postgres.folder / "pgdata" / "PG_VERSION").exists():
                # Said out loud: a command run from the wrong folder would otherwise
                # answer from a fresh, empty database as if nothing had been recorded.
                log.warning(
                    "no embedded PostgreSQL in %s yet: creating a new, empty one there "
                    "(set VIBEHQ_DATA_DIR to use another data folder, or "
                    "VIBEHQ_DATABASE_URL for a server)",
                    data_dir.resolve(),
                )
            database_url = postgres.start()
            embedded.append(postgres)
        if nats_url is None:
            nats = EmbeddedNats(data_dir.resolve() / "nats")
            nats_url = nats.start()
            embedded.append(nats)
    except Exception as error:
        Engines("", "", embedded).stop()
        if isinstance(error, EngineError):
            raise
        raise EngineError(f"could not start the embedded engines in {data_dir}: {error}") from error
    return Engines(database_url, nats_url, embedded)


def embedded_engines(data_dir: Path) -> list[EmbeddedPostgres | EmbeddedNats]:
    """Handles on the embedded engines of a data folder, for status and stop commands."""
    root = data_dir.resolve()
    return [EmbeddedPostgres(root / "postgres"), EmbeddedNats(root / "nats")]
