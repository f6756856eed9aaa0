"""Ownership and grants, shared by the aggregates other actors may be let into.

An aggregate that mixes in `Shared` belongs to its creator (`created_by`). The owner
may grant another actor `read` (see it) or `write` (also change it), and take a grant
away; `access_of` says what an actor may do. The aggregate records the two events
(`_granted`, `_revoked`) itself, so each context keeps its own event names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal
from uuid import UUID

from domain.contracts import WorkspaceAccess as Access
from domain.errors import Refused

#: What an actor may do: own it, write, or read.
Level = Literal["owner", "write", "read"]


class Shared:
    """Owner and grants; the aggregate supplies `created_by` and the two event methods."""

    #: How refusals name the aggregate: "workspace", "task".
    noun: ClassVar[str]
    id: UUID

    @property
    def owner(self) -> str:
        """Its creator ("" for one recorded before owners were)."""
        owner: str = self.__dict__.get("created_by", "")
        return owner

    @property
    def grants(self) -> Mapping[str, Access]:
        """Actors granted access (none in a snapshot taken before grants existed)."""
        granted: Mapping[str, Access] = self.__dict__.get("granted", {})
        return granted

    def access_of(self, actor: str) -> Level | None:
        """What `actor` may do here: own it, write, read, or nothing (None)."""
        if actor == self.owner:
            return "owner"
        return self.grants.get(actor)

    def grant(self, actor: str, access: Access, by: str) -> bool:
        """Let `actor` read or write; False (nothing recorded) if it already may."""
        if actor == self.owner:
            raise Refused(f"{actor} owns {self.noun} {self.label}: it needs no grant")
        if self.grants.get(actor) == access:
            return False
        self._granted(actor, access, by)
        return True

    def revoke(self, actor: str, by: str) -> bool:
        """Take `actor`'s grant away; False (nothing recorded) if it had none."""
        if actor not in self.grants:
            return False
        self._revoked(actor, by)
        return True

    @property
    def label(self) -> str:
        """How refusals and answers name it (its id unless the aggregate says better)."""
        return str(self.id)

    def _grant_state(self, actor: str, access: Access) -> None:
        self.granted = {**self.grants, actor: access}

    def _revoke_state(self, actor: str) -> None:
        self.granted = {name: a for name, a in self.grants.items() if name != actor}

    # -- recorded by the aggregate, as its own events --------------------------------------

    def _granted(self, actor: str, access: Access, by: str) -> None:
        raise NotImplementedError

    def _revoked(self, actor: str, by: str) -> None:
        raise NotImplementedError
