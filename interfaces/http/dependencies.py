"""What handlers receive by injection: typed services, never the app's state.

The app's lifespan puts one `Services` (interfaces/composition.py) on its state; these
providers hand each handler the part it names as a parameter (`patches: PatchManager`,
`followers: Followers`, ...). A test builds `Services` from in-memory fakes and the
same handlers run without PostgreSQL or NATS.
"""

from __future__ import annotations

from typing import Final, TypeAlias

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import SkipValidation

from application.delivery import DeliveryService
from application.ops import OpsService
from application.patch_manager import PatchManager
from application.read_models import DeliveryReports, Followers, OpsViews, WorkspaceList
from application.workspace_queries import WorkspaceQueries
from domain.errors import Busy
from interfaces.composition import LiveFeeds, Services

# What a handler declares, by parameter name: injected, not validated (Protocols are not
# runtime-checkable, and the composition root already typed them).
Patches: TypeAlias = NamedDependency[SkipValidation[PatchManager]]
Queries: TypeAlias = NamedDependency[SkipValidation[WorkspaceQueries]]
Delivery: TypeAlias = NamedDependency[SkipValidation[DeliveryService]]
Ops: TypeAlias = NamedDependency[SkipValidation[OpsService]]
Reports: TypeAlias = NamedDependency[SkipValidation[DeliveryReports]]
OpsViewsDep: TypeAlias = NamedDependency[SkipValidation[OpsViews]]
Workspaces: TypeAlias = NamedDependency[SkipValidation[WorkspaceList]]
FollowersDep: TypeAlias = NamedDependency[SkipValidation[Followers]]


class FeedsUnavailable(Busy):
    """This process serves no live feeds (it was built without NATS)."""


def services_of(state: State) -> Services:
    services: Services = state.services
    return services


def _patches(state: State) -> PatchManager:
    return services_of(state).patches


def _queries(state: State) -> WorkspaceQueries:
    return services_of(state).queries


def _delivery(state: State) -> DeliveryService:
    return services_of(state).delivery


def _ops(state: State) -> OpsService:
    return services_of(state).ops


def _reports(state: State) -> DeliveryReports:
    return services_of(state).reports


def _ops_views(state: State) -> OpsViews:
    return services_of(state).ops_views


def _workspace_list(state: State) -> WorkspaceList:
    return services_of(state).workspace_list


def _followers(state: State) -> Followers:
    return services_of(state).followers


def live_feeds(services: Services) -> LiveFeeds:
    if services.feeds is None:
        raise FeedsUnavailable("this server was started without NATS; it has no live feeds")
    return services.feeds


#: Parameter name -> provider, registered once on the app.
DEPENDENCIES: Final = {
    "patches": Provide(_patches, sync_to_thread=False),
    "queries": Provide(_queries, sync_to_thread=False),
    "delivery": Provide(_delivery, sync_to_thread=False),
    "ops": Provide(_ops, sync_to_thread=False),
    "reports": Provide(_reports, sync_to_thread=False),
    "ops_views": Provide(_ops_views, sync_to_thread=False),
    "workspace_list": Provide(_workspace_list, sync_to_thread=False),
    "followers": Provide(_followers, sync_to_thread=False),
}
