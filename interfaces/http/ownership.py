"""Route guards for workspace ownership: the caller must own the workspace a route
names, hold a grant for it, or have an admin token (application/sharing.py).

A refusal is 403 (and recorded); an unknown workspace stays 404.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from application.sharing import Need
from interfaces.http.dependencies import services_of
from interfaces.http.params import command_context


def workspace_access(need: Need) -> Guard:
    """A guard for routes with `{workspace_id}` in their path."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        workspace_id: UUID = connection.path_params["workspace_id"]
        context = command_context(connection, None)
        await services_of(connection.app.state).access.check(workspace_id, context, need)

    return guard


MAY_READ = workspace_access("read")
MAY_WRITE = workspace_access("write")
