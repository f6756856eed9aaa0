"""Env profiles: the environment an agent session of a kind starts with, resolved from
secrets through their grants (`env:<VARIABLE>`), every release recorded.

Resolving checks every variable first and releases nothing if a required one cannot
be had: the refusal names the variables and secrets missing, never a value. Optional
ones that cannot be had are left out, and say why.
"""

from __future__ import annotations

from application.aggregates import AggregateNotFound, AggregateRepository, CommandContext
from application.commands import execute, scoped
from application.ports import EventStore
from application.secrets import NotTheOwner, SecretService
from domain.contracts import EnvProfileInfo, EnvProfileRequest, ResolvedEnv
from domain.env_profiles import EnvProfile, profile_stream_id
from domain.errors import Forbidden, NotFound


class ProfileMissing(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"no env profile named {name!r}")


class ProfileRefused(Forbidden):
    def __init__(self, name: str, missing: dict[str, str]) -> None:
        listed = "; ".join(f"{variable}: {why}" for variable, why in sorted(missing.items()))
        super().__init__(f"env profile {name!r} cannot start: {listed}")
        self.missing = missing


class EnvProfileService:
    def __init__(
        self, store: EventStore, repository: AggregateRepository, secrets: SecretService
    ) -> None:
        self._store = store
        self._repository = repository
        self._secrets = secrets

    async def define(
        self, name: str, request: EnvProfileRequest, context: CommandContext
    ) -> EnvProfileInfo:
        variables = dict(request.variables)
        try:
            current = await self._load(name)
        except ProfileMissing:
            current = None
        if current is not None and not context.admin and current.owner != context.actor:
            raise NotTheOwner(context.actor, name, current.owner)

        def start() -> EnvProfile:
            return EnvProfile(name=name, owner=context.actor, variables=variables)

        def change(profile: EnvProfile) -> None:
            profile.change(variables, context.actor)

        await execute(
            self._store, self._repository, EnvProfile, profile_stream_id(name),
            start=start, change=change, context=scoped(context, f"env-profile:{name}", request),
        )  # fmt: skip
        return _info(await self._load(name))

    async def show(self, name: str) -> EnvProfileInfo:
        return _info(await self._load(name))

    async def resolve(self, name: str, context: CommandContext, *, service: bool) -> ResolvedEnv:
        profile = await self._load(name)
        if not service:
            raise ProfileRefused(name, {"*": "only service tokens resolve profiles"})
        refused: dict[str, str] = {}
        for variable, binding in profile.variables.items():
            why = await self._secrets.refusal_for(binding.secret, f"env:{variable}", context.actor)
            if why is not None:
                refused[variable] = f"secret {binding.secret!r}: {why}"
        missing = {v: why for v, why in refused.items() if profile.variables[v].required}
        if missing:
            raise ProfileRefused(name, missing)  # nothing released
        env = {}
        for variable, binding in sorted(profile.variables.items()):
            if variable not in refused:
                resolved = await self._secrets.resolve(
                    binding.secret, f"env:{variable}", context, service=True
                )
                env[variable] = resolved.value
        return ResolvedEnv(profile=name, env=env, skipped=refused)

    async def _load(self, name: str) -> EnvProfile:
        try:
            return await self._repository.get(profile_stream_id(name), EnvProfile)
        except AggregateNotFound:
            raise ProfileMissing(name) from None


def _info(profile: EnvProfile) -> EnvProfileInfo:
    return EnvProfileInfo(
        name=profile.name,
        owner=profile.owner,
        variables=dict(sorted(profile.variables.items())),
        version=profile.version,
    )
