"""Limit policies as versioned configuration: one stream holds every change, so who
set which limit when is in the log like everything else.

Each group (`writes`, `workspaces`, `model-calls`, `session-starts`) has at most one
recorded policy; without one, the process's default (VIBEHQ_LIMIT_*) applies.
`policy_for` turns a group's spec into the policy one actor is checked against: its
override if it has one, in enforce or shadow mode.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.contracts import LimitPolicySpec
from domain.limits import Policy, Quota, Rate

POLICIES_STREAM: Final = uuid5(UUID("3b9e0c51-7d2a-4e8f-9a61-5c4d2e1f0a7b"), "limit-policies")


class LimitPolicyBook(Aggregate):
    """Every group's recorded policy."""

    @staticmethod
    def create_id() -> UUID:
        return POLICIES_STREAM

    class Opened(Aggregate.Created):
        by: str

    class PolicySet(Aggregate.Event):
        group: str
        spec: LimitPolicySpec
        by: str

    class PolicyRemoved(Aggregate.Event):
        group: str
        by: str

    @event(Opened)
    def __init__(self, by: str) -> None:
        self.by = by
        #: group -> (spec, who set it, when)
        self.policies: dict[str, tuple[LimitPolicySpec, str, datetime]] = {}

    def set(self, group: str, spec: LimitPolicySpec, by: str) -> bool:
        current = self.policies.get(group)
        if current is not None and current[0] == spec:
            return False
        self._set(group=group, spec=spec, by=by)
        return True

    def remove(self, group: str, by: str) -> bool:
        if group not in self.policies:
            return False
        self._removed(group=group, by=by)
        return True

    @event(PolicySet)
    def _set(self, group: str, spec: LimitPolicySpec, by: str) -> None:
        self.policies[group] = (spec, by, self.modified_on)

    @event(PolicyRemoved)
    def _removed(self, group: str, by: str) -> None:
        self.policies.pop(group, None)


LIMIT_POLICY_EVENTS: Final = (
    LimitPolicyBook.Opened,
    LimitPolicyBook.PolicySet,
    LimitPolicyBook.PolicyRemoved,
)


def policy_for(group: str, spec: LimitPolicySpec, actor: str) -> Policy:
    """The policy `actor` is checked against under `spec` (its override, if any)."""
    limit = spec.overrides.get(actor, spec.limit)
    shadow = spec.mode == "shadow"
    if spec.kind == "rate":
        burst = spec.burst if spec.burst is not None else spec.limit
        if actor in spec.overrides:
            burst = burst * limit / spec.limit  # the same burst in seconds' worth
        return Rate(group, limit=limit, per=spec.per_seconds, burst=burst, shadow=shadow)
    return Quota(group, limit=limit, window=spec.per_seconds, shadow=shadow)


def spec_of(policy: Policy) -> LimitPolicySpec:
    """A default policy (from settings) written as a spec."""
    if isinstance(policy, Rate):
        return LimitPolicySpec(
            kind="rate", limit=policy.limit, per_seconds=policy.per, burst=policy.burst
        )
    return LimitPolicySpec(kind="quota", limit=policy.limit, per_seconds=policy.window)
