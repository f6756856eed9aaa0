"""Limit policies and admission: which limits a request is checked against, decided
by the `RateLimiter` port (PostgreSQL: exact across every process) in one round trip.

Policies are configuration recorded as events (domain/limit_policies.py); each process
keeps the book in memory and reloads it when a change goes past (the interfaces call
`reload` on the change's NATS message, and at start). Without a recorded policy, a
group has the process's default (VIBEHQ_LIMIT_*), or none.

`admit` is what every limited thing calls, HTTP routes today, the model router and
agent sessions next: enforced policies are decided together, all or nothing; shadow
policies are decided apart (they never refuse, and never stop an enforced one from
being consumed) and reported, so a new limit can be watched before it bites.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import uuid4

from application.aggregates import AggregateNotFound, AggregateRepository, CommandContext
from application.commands import execute, recorded, scoped
from application.limit_budgets import LocalBudgets
from application.ports import EventStore, RateLimiter
from domain.contracts import LimitPolicies, LimitPolicyInfo, LimitPolicySpec
from domain.errors import Forbidden, Invalid
from domain.limit_policies import POLICIES_STREAM, LimitPolicyBook, policy_for, spec_of
from domain.limits import LimitCheck, LimitDecision, Policy

ADMITTED = LimitDecision(True, None, 0.0, (), ())


class NotAnAdmin(Forbidden):
    def __init__(self, actor: str) -> None:
        super().__init__(f"{actor} may not change limits: that takes the admin scope")


class BadPolicy(Invalid):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Admission:
    """The enforced decision (and its checks, for the RateLimit headers) and the names
    of shadow policies that would have refused."""

    decision: LimitDecision
    checks: tuple[LimitCheck, ...]
    shadow_refusals: tuple[str, ...] = ()


class LimitService:
    def __init__(
        self,
        store: EventStore,
        repository: AggregateRepository,
        limiter: RateLimiter | None,
        defaults: Mapping[str, Policy],
    ) -> None:
        self._store = store
        self._repository = repository
        self._limiter = limiter
        #: Enforced checks go through reserved units (application/limit_budgets.py).
        self._budgets = LocalBudgets(limiter) if limiter is not None else None
        self._defaults = {group: spec_of(policy) for group, policy in defaults.items()}
        self._book: dict[str, LimitPolicyInfo] = self._effective(None)
        self._version = 0
        self._checks_of: dict[
            tuple[tuple[str, ...], str, str | None, str | None],
            tuple[tuple[LimitCheck, ...], tuple[LimitCheck, ...]],
        ] = {}

    @property
    def deciding(self) -> bool:
        """Whether a limiter decides (False: everything is admitted, as in the fakes)."""
        return self._limiter is not None

    @property
    def version(self) -> int:
        """Changes to the recorded policies so far (a cache of decisions keys on it)."""
        return self._version

    # -- admission -------------------------------------------------------------------------

    def specs(self, groups: Sequence[str]) -> list[tuple[str, LimitPolicySpec]]:
        return [(g, self._book[g].spec) for g in groups if g in self._book]

    async def admit(
        self,
        groups: Sequence[str],
        key: str,
        *,
        token: str | None = None,
        model: str | None = None,
    ) -> Admission:
        """Check `key` (an actor; its `token` where a policy is kept per token) against
        every policy of `groups`; consume from the enforced ones only if all admit. A
        model call costs its model's weight."""
        if self._limiter is None:
            return Admission(ADMITTED, ())
        enforced, shadow = self._checks(tuple(groups), key, token, model)
        assert self._budgets is not None
        decision = await self._budgets.check(enforced) if enforced else ADMITTED
        refusals: tuple[str, ...] = ()
        if shadow:
            tried = await self._limiter.check(shadow)
            refusals = () if tried.allowed or tried.denied_by is None else (tried.denied_by.name,)
        return Admission(decision, enforced, refusals)

    def _checks(
        self, groups: tuple[str, ...], key: str, token: str | None, model: str | None
    ) -> tuple[tuple[LimitCheck, ...], tuple[LimitCheck, ...]]:
        """(enforced, shadow) checks for a caller: built once per caller and policy
        version, then the same objects (a busy key's check is a dictionary lookup)."""
        cache_key = (groups, key, token, model)
        found = self._checks_of.get(cache_key)
        if found is not None:
            return found
        enforced: list[LimitCheck] = []
        shadow: list[LimitCheck] = []
        for group, spec in self.specs(groups):
            cost = _cost(spec, model)
            policy = policy_for(group, spec, key)
            budget = f"token:{token}" if spec.key == "token" and token is not None else key
            (shadow if policy.shadow else enforced).append(LimitCheck(policy, budget, cost))
        if len(self._checks_of) >= 50_000:  # bounded: start afresh
            self._checks_of.clear()
        found = self._checks_of[cache_key] = (tuple(enforced), tuple(shadow))
        return found

    async def probe(
        self, group: str, actor: str, requests: int, *, model: str | None = None
    ) -> list[LimitDecision]:
        """`requests` back-to-back checks of `actor` under `group`'s policy, against a
        throwaway key: how the policy behaves, without spending anyone's budget."""
        if self._limiter is None or group not in self._book:
            return []
        spec = self._book[group].spec
        check = LimitCheck(
            policy_for(group, spec, actor), f"probe:{uuid4().hex}", _cost(spec, model)
        )
        return [await self._limiter.check([check]) for _ in range(requests)]

    # -- configuration ---------------------------------------------------------------------

    async def reload(self) -> int:
        """Read the recorded policies again; returns the book's version."""
        try:
            book = await self._repository.get(POLICIES_STREAM, LimitPolicyBook)
        except AggregateNotFound:
            book = None
        self._book = self._effective(book)
        self._checks_of.clear()
        self._version = book.version if book is not None else 0
        return self._version

    async def show(self) -> LimitPolicies:
        await self.reload()
        return self._listing()

    async def set(
        self, group: str, spec: LimitPolicySpec, context: CommandContext
    ) -> LimitPolicies:
        if not context.admin:
            raise NotAnAdmin(context.actor)
        _check(spec)
        await self.reload()
        current = self._book.get(group)
        if current is not None and current.source == "set" and current.spec == spec:
            return self._listing()  # already so: nothing to record

        def start() -> LimitPolicyBook:
            book = LimitPolicyBook(by=context.actor)
            book.set(group, spec, context.actor)
            return book

        result = await execute(
            self._store, self._repository, LimitPolicyBook, POLICIES_STREAM,
            start=start, change=lambda book: _set(book, group, spec, context.actor),
            context=scoped(context, f"limit:{group}", spec),
        )  # fmt: skip
        await self.reload()
        return self._listing(recorded(result).position if not result.duplicate else 0)

    async def remove(self, group: str, context: CommandContext) -> LimitPolicies:
        """Back to the default (VIBEHQ_LIMIT_*), or to no limit."""
        if not context.admin:
            raise NotAnAdmin(context.actor)
        await self.reload()
        if self._book.get(group) is not None and self._book[group].source == "set":
            await execute(
                self._store, self._repository, LimitPolicyBook, POLICIES_STREAM,
                change=lambda book: _remove(book, group, context.actor), context=context,
            )  # fmt: skip
        await self.reload()
        return self._listing()

    def _effective(self, book: LimitPolicyBook | None) -> dict[str, LimitPolicyInfo]:
        effective = {
            group: LimitPolicyInfo(group=group, spec=spec, source="default")  # type: ignore[arg-type]
            for group, spec in self._defaults.items()
        }
        if book is not None:
            for group, (spec, by, at) in book.policies.items():
                effective[group] = LimitPolicyInfo(
                    group=group,  # type: ignore[arg-type]
                    spec=spec,
                    source="set",
                    set_by=by,
                    set_at=at,
                )
        return effective

    def _listing(self, position: int = 0) -> LimitPolicies:
        return LimitPolicies(
            policies=[self._book[g] for g in sorted(self._book)],
            version=self._version,
            position=position,
        )


def _cost(spec: LimitPolicySpec, model: str | None) -> float:
    """What one call costs under `spec`: its model's weight, else 1."""
    return spec.weights.get(model, 1.0) if model is not None else 1.0


def _check(spec: LimitPolicySpec) -> None:
    if spec.kind == "quota" and spec.burst is not None:
        raise BadPolicy("burst", "a quota has no burst: it is `limit` per window")
    if spec.kind == "quota" and spec.per_seconds < 1:
        raise BadPolicy("per_seconds", "a quota's window is at least 1 s")
    if spec.burst is not None and spec.burst < 1:
        raise BadPolicy("burst", "a burst below 1 would admit nothing")


def _set(book: LimitPolicyBook, group: str, spec: LimitPolicySpec, by: str) -> None:
    book.set(group, spec, by)


def _remove(book: LimitPolicyBook, group: str, by: str) -> None:
    book.remove(group, by)
