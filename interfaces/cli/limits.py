"""`vibehq limits`: the rate limits and quotas in force; set, drop and try them.

A change is recorded as an event (who set what, when) and reaches every running
process within moments. The operator at the shell acts as an admin.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Final, TypeVar
from uuid import uuid4

import typer
from rich.console import Console
from rich.table import Table

from application.aggregates import CommandContext
from application.limits import LimitService
from domain.contracts import LIMIT_GROUPS, LimitPolicies, LimitPolicySpec
from domain.decoding import ContractViolation, convert
from infrastructure.settings import Settings
from interfaces.cli.common import CommandError, parsed, run_command, runtime_for, settings

T = TypeVar("T")

limits_app = typer.Typer(
    help="Rate limits and quotas per group (writes, workspaces, model-calls, "
    "session-starts, auth-failures): show them, set one (recorded; every process applies it within "
    "moments), drop one, or try one without spending anybody's budget (docs/limits.md).",
    no_args_is_help=True,
)

_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_DURATION: Final = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")
GROUP_HELP: Final = f"One of: {', '.join(LIMIT_GROUPS)}."


def _context() -> CommandContext:
    return CommandContext(actor="operator", correlation_id=uuid4(), admin=True)


def _group(group: str) -> str:
    if group not in LIMIT_GROUPS:
        raise CommandError(f"no limit group {group!r}; {GROUP_HELP.lower()}")
    return group


def _seconds(text: str) -> float:
    found = _DURATION.match(text.strip())
    if found is None:
        raise CommandError(f"--per {text!r} is not a duration like 60, 60s, 1h or 1d")
    return float(found.group(1)) * _UNITS[found.group(2) or "s"]


def _pairs(option: str, items: list[str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for item in items:
        name, equals, number = item.partition("=")
        try:
            found[name] = float(number)
        except ValueError:
            raise CommandError(f"{option} {item!r} is not NAME=NUMBER") from None
        if not equals or not name:
            raise CommandError(f"{option} {item!r} is not NAME=NUMBER")
    return found


def _spec(fields: dict[str, object]) -> LimitPolicySpec:
    try:
        return convert(fields, LimitPolicySpec)
    except ContractViolation as error:
        raise CommandError(f"{error.field}: {error}") from None


async def _with(config: Settings, use: Callable[[LimitService], Awaitable[T]]) -> T:
    """`use` the limits of a runtime opened for this command (its policies loaded)."""
    async with runtime_for(config) as runtime:
        assert runtime.services.limits is not None  # a runtime always has a limiter
        return await use(runtime.services.limits)


def _show(listing: LimitPolicies) -> None:
    table = Table("group", "policy", "mode", "overrides", "source")
    for info in listing.policies:
        spec = info.spec
        if spec.kind == "rate":
            burst = spec.burst if spec.burst is not None else spec.limit
            policy = f"rate {spec.limit:g} per {spec.per_seconds:g}s, bursts of {burst:g}"
        else:
            policy = f"quota {spec.limit:g} per {spec.per_seconds:g}s (UTC windows)"
        if spec.weights:
            policy += "; weights " + ", ".join(f"{m}={w:g}" for m, w in spec.weights.items())
        overrides = ", ".join(f"{a}={n:g}" for a, n in spec.overrides.items()) or "-"
        source = f"set by {info.set_by}" if info.source == "set" else "default"
        table.add_row(info.group, policy, spec.mode, overrides, source)
    Console(soft_wrap=True).print(table)
    if not listing.policies:
        typer.echo("no limits in force")


@limits_app.command("show")
def limits_show() -> None:
    """Every limit in force: recorded policies, and the defaults (VIBEHQ_LIMIT_*)."""
    config = settings()

    _show(run_command(lambda: _with(config, lambda limits: limits.show())))


@limits_app.command("set")
def limits_set(
    group: Annotated[str, typer.Argument(help=GROUP_HELP)],
    limit: Annotated[float, typer.Option(help="Units per --per.")],
    per: Annotated[str, typer.Option(help="The period: 60, 60s, 1h, 1d.")],
    quota: Annotated[
        bool, typer.Option("--quota", help="A quota per UTC window instead of a rate.")
    ] = False,
    burst: Annotated[float | None, typer.Option(help="Rates: largest burst.")] = None,
    shadow: Annotated[
        bool, typer.Option("--shadow", help="Decide and count, never refuse (try it out).")
    ] = False,
    override: Annotated[
        list[str] | None, typer.Option(help="ACTOR=LIMIT: another limit for one actor.")
    ] = None,
    weight: Annotated[
        list[str] | None, typer.Option(help="MODEL=COST: model calls' weights.")
    ] = None,
) -> None:
    """Set a group's policy (a rate by default: GCRA, bursts of --burst)."""
    config = settings()
    chosen = parsed(lambda: _group(group))
    spec = parsed(
        lambda: _spec(
            {
                "kind": "quota" if quota else "rate",
                "limit": limit,
                "per_seconds": _seconds(per),
                "burst": burst,
                "mode": "shadow" if shadow else "enforce",
                "overrides": _pairs("--override", override or []),
                "weights": _pairs("--weight", weight or []),
            }
        )
    )

    _show(run_command(lambda: _with(config, lambda limits: limits.set(chosen, spec, _context()))))


@limits_app.command("remove")
def limits_remove(group: Annotated[str, typer.Argument(help=GROUP_HELP)]) -> None:
    """Drop a group's recorded policy: back to its default, or to no limit."""
    config = settings()
    chosen = parsed(lambda: _group(group))

    _show(run_command(lambda: _with(config, lambda limits: limits.remove(chosen, _context()))))


@limits_app.command("test")
def limits_test(
    group: Annotated[str, typer.Argument(help=GROUP_HELP)],
    actor: Annotated[str, typer.Option(help="Whose limit (overrides apply).")] = "factory",
    requests: Annotated[int, typer.Option(help="Back-to-back requests.", min=1)] = 10,
    model: Annotated[str | None, typer.Option(help="Model calls: the model's weight.")] = None,
) -> None:
    """Send --requests back-to-back checks through the group's policy, on a throwaway
    key: what would be admitted and when the refusals start. Nobody's budget is spent."""
    config = settings()
    chosen = parsed(lambda: _group(group))

    decisions = run_command(
        lambda: _with(config, lambda limits: limits.probe(chosen, actor, requests, model=model))
    )
    if not decisions:
        typer.echo(f"{chosen}: no limit in force")
        return
    for n, decision in enumerate(decisions, start=1):
        if decision.allowed:
            left = decision.remaining[0] if decision.remaining else 0.0
            typer.echo(f"{n:>5}  admitted  ({left:g} left)")
        else:
            typer.echo(f"{n:>5}  refused   (retry in {decision.retry_after:.2f}s)")
    admitted = sum(1 for d in decisions if d.allowed)
    typer.echo(f"{chosen} for {actor}: {admitted} of {len(decisions)} admitted")
