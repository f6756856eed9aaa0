"""Env profiles: which secrets become which environment variables for a kind of agent
session (the origin's container types: `cli-agent`, `ai-provider`, `git-ops`).

A profile names secrets, never values. Its creator owns it. Starting a session with a
profile resolves each variable through its secret's grant for `env:<VARIABLE>`; a
required one that cannot be had stops the start, naming the variable and the secret.
"""

from __future__ import annotations

from typing import Final
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.contracts import EnvBinding

PROFILE_NAMESPACE: Final = UUID("9d3e2b71-5a4c-4f0e-8b6d-1c2a3f4e5d60")


def profile_stream_id(name: str) -> UUID:
    return uuid5(PROFILE_NAMESPACE, name)


class EnvProfile(Aggregate):
    @staticmethod
    def create_id(name: str) -> UUID:
        return profile_stream_id(name)

    class Defined(Aggregate.Created):
        name: str
        owner: str
        variables: dict[str, EnvBinding]

    class Changed(Aggregate.Event):
        variables: dict[str, EnvBinding]
        by: str

    @event(Defined)
    def __init__(self, name: str, owner: str, variables: dict[str, EnvBinding]) -> None:
        self.name = name
        self.owner = owner
        self.variables = dict(variables)

    def change(self, variables: dict[str, EnvBinding], by: str) -> bool:
        if variables == self.variables:
            return False
        self._changed(variables=variables, by=by)
        return True

    @event(Changed)
    def _changed(self, variables: dict[str, EnvBinding], by: str) -> None:
        self.variables = dict(variables)


ENV_PROFILE_EVENTS: Final = (EnvProfile.Defined, EnvProfile.Changed)
