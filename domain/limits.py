"""Rate limits and quotas: what a policy allows, and the checks one request makes.

A `Rate` is GCRA: `limit` units per `per` seconds, admitting bursts of up to `burst`
units; a `Quota` is `limit` units per calendar window of `window` seconds (86400: the
UTC day). A request may be checked against several policies at once; it is admitted
by all of them or consumes from none (the adapter decides them together).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Rate:
    name: str
    limit: float
    per: float
    burst: float
    #: Decided and counted, never refused.
    shadow: bool = False

    @property
    def interval(self) -> float:
        """Seconds per unit (GCRA's emission interval)."""
        return self.per / self.limit

    def header(self) -> str:
        return f'"{self.name}";q={self.limit:g};w={self.per:g}'


@dataclass(frozen=True)
class Quota:
    name: str
    limit: float
    window: float
    #: Decided and counted, never refused.
    shadow: bool = False

    def header(self) -> str:
        return f'"{self.name}";q={self.limit:g};w={self.window:g}'


Policy = Rate | Quota


@dataclass(frozen=True)
class LimitCheck:
    """One policy applied to one key (an actor, an address, a token) for a cost."""

    policy: Policy
    key: str
    cost: float = 1.0

    @property
    def kind(self) -> Literal["gcra", "quota"]:
        return "gcra" if isinstance(self.policy, Rate) else "quota"

    @property
    def storage_key(self) -> str:
        return f"{self.policy.name}:{self.key}"


@dataclass(frozen=True)
class LimitDecision:
    """Admitted or not; if not, which policy said no and how long until it would not."""

    allowed: bool
    denied_by: Policy | None
    retry_after: float
    #: Per check, in order: units left after this request, seconds until whole again.
    remaining: tuple[float, ...]
    reset_after: tuple[float, ...]
