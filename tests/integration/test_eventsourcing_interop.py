"""An `eventsourcing` Application, with the library's own PostgreSQL persistence module,
reads back an aggregate that our asyncpg store wrote: the stored-event columns and
their encoding are the library's, so its tools and readers keep working on our log.
"""

from __future__ import annotations

import uuid

from eventsourcing.application import Application
from eventsourcing.persistence import Transcoder

from application.aggregates import AggregateRepository, CommandContext
from application.event_codec import register_transcodings
from domain.contracts import CreateFile
from domain.patching.limits import PatchLimits
from domain.workspace import Workspace
from infrastructure.database_url import server_address
from infrastructure.event_store.postgres_store import PostgresEventStore


class VibeHQ(Application[uuid.UUID]):
    """Named so that the library derives our table name, `vibehq_events`."""

    def register_transcodings(self, transcoder: Transcoder) -> None:
        register_transcodings(transcoder)  # type: ignore[arg-type]


async def test_eventsourcing_application_reads_an_aggregate_we_wrote(
    store: PostgresEventStore, database_url: str
) -> None:
    workspace = Workspace(name="checkout-service", created_by="factory:agent")
    workspace.submit(
        patch_id=uuid.uuid4(),
        author="agent-factory",
        task_id="T-1",
        base_version=1,
        operations=[CreateFile(path="app.py", content="x = 1\n")],
        message="",
        contents={},
        limits=PatchLimits(),
    )
    workspace.archive(by="user:alice")
    await AggregateRepository(store).save(
        workspace, CommandContext(actor="factory:agent", correlation_id=uuid.uuid4())
    )

    server = server_address(database_url)
    library_app = VibeHQ(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": server.database,
            "POSTGRES_HOST": server.host,
            "POSTGRES_PORT": str(server.port),
            "POSTGRES_USER": server.user,
            "POSTGRES_PASSWORD": server.password,
            "CREATE_TABLE": "false",
        }
    )
    try:
        copy = library_app.repository.get(workspace.id)
    finally:
        library_app.close()

    assert isinstance(copy, Workspace)
    assert copy.name == "checkout-service"
    assert copy.archived
    assert copy.archived_by == "user:alice"
    assert copy.version == 3
    assert copy.files == workspace.files  # the patch's FileChange structs decoded too
