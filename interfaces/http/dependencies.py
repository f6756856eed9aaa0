"""What handlers receive by injection: typed services, never the app's state.

The app's lifespan puts one `Services` (interfaces/composition.py) on its state; the
providers of `dependencies()` hand each handler the part it names as a parameter
(`patches: Patches`, `followers: FollowersDep`, ...). A test builds `Services` from
in-memory fakes and the same handlers run without PostgreSQL or NATS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import SkipValidation

from application.delivery import DeliveryService
from application.env_profiles import EnvProfileService
from application.ops import OpsService
from application.patch_manager import PatchManager
from application.patch_preview import PatchPreviewer
from application.read_models import (
    DeliveryReports,
    Followers,
    OpsViews,
    SecretList,
    WorkspaceList,
)
from application.secrets import SecretService
from application.sharing import TaskAccessManager, WorkspaceAccessManager
from application.workspace_queries import WorkspaceQueries
from domain.errors import Busy
from interfaces.composition import LiveFeeds, Services

# What a handler declares, by parameter name: injected, not validated (Protocols are not
# runtime-checkable, and the composition root already typed them).
Patches: TypeAlias = NamedDependency[SkipValidation[PatchManager]]
Access: TypeAlias = NamedDependency[SkipValidation[WorkspaceAccessManager]]
TaskAccess: TypeAlias = NamedDependency[SkipValidation[TaskAccessManager]]
SecretsDep: TypeAlias = NamedDependency[SkipValidation[SecretService]]
EnvProfilesDep: TypeAlias = NamedDependency[SkipValidation[EnvProfileService]]
Previews: TypeAlias = NamedDependency[SkipValidation[PatchPreviewer]]
Queries: TypeAlias = NamedDependency[SkipValidation[WorkspaceQueries]]
Delivery: TypeAlias = NamedDependency[SkipValidation[DeliveryService]]
Ops: TypeAlias = NamedDependency[SkipValidation[OpsService]]
Reports: TypeAlias = NamedDependency[SkipValidation[DeliveryReports]]
OpsViewsDep: TypeAlias = NamedDependency[SkipValidation[OpsViews]]
Workspaces: TypeAlias = NamedDependency[SkipValidation[WorkspaceList]]
SecretListDep: TypeAlias = NamedDependency[SkipValidation[SecretList]]
FollowersDep: TypeAlias = NamedDependency[SkipValidation[Followers]]


class FeedsUnavailable(Busy):
    """This process serves no live feeds (it was built without NATS)."""


def services_of(state: State) -> Services:
    services: Services = state.services
    return services


def live_feeds(services: Services) -> LiveFeeds:
    if services.feeds is None:
        raise FeedsUnavailable("this server was started without NATS; it has no live feeds")
    return services.feeds


def dependencies(services: Callable[[], Services]) -> dict[str, Provide]:
    """Parameter name -> provider, for one app whose services `services()` returns.

    Each provider runs once per app (`use_cache`): the services are built before the
    first request and never change, so a request pays no resolution for them.
    """

    def provide(part: Callable[[Services], object]) -> Provide:
        return Provide(lambda: part(services()), use_cache=True, sync_to_thread=False)

    return {
        "patches": provide(lambda s: s.patches),
        "access": provide(lambda s: s.access),
        "task_access": provide(lambda s: s.task_access),
        "secrets": provide(lambda s: s.secrets),
        "profiles": provide(lambda s: s.profiles),
        "previews": provide(lambda s: s.previews),
        "queries": provide(lambda s: s.queries),
        "delivery": provide(lambda s: s.delivery),
        "ops": provide(lambda s: s.ops),
        "reports": provide(lambda s: s.reports),
        "ops_views": provide(lambda s: s.ops_views),
        "workspace_list": provide(lambda s: s.workspace_list),
        "secret_list": provide(lambda s: s.secret_list),
        "followers": provide(lambda s: s.followers),
    }
