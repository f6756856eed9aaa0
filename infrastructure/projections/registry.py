"""The projections this build ships, by name."""

from __future__ import annotations

from infrastructure.projections.delivery import DeliveryProjection
from infrastructure.projections.model import Projection
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
