"""The projections this build ships, by name."""

from __future__ import annotations

from infrastructure.pool import connect
from infrastructure.projections.delivery import DeliveryProjection
from infrastructure.projections.model import LIVE_SCHEMA, Projection, create_tables, search_path
from infrastructure.projections.ops import OpsProjection
from infrastructure.projections.secrets import SecretListProjection
from infrastructure.projections.workspaces import WorkspaceListProjection


def all_projections() -> list[Projection]:
    return [
        DeliveryProjection(),
        OpsProjection(),
        WorkspaceListProjection(),
        SecretListProjection(),
    ]


def projection_named(name: str) -> Projection:
    for projection in all_projections():
        if projection.name == name:
            return projection
    known = ", ".join(p.name for p in all_projections())
    raise LookupError(f"no projection named {name!r}; known: {known}")


async def ensure_read_models(database_url: str) -> None:
    """Create missing read-model tables, so readers work before a runner first starts."""
    conn = await connect(database_url, server_settings=search_path(LIVE_SCHEMA))
    try:
        for projection in all_projections():
            await create_tables(conn, projection)
    finally:
        await conn.close()
