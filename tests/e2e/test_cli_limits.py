"""`vibehq limits` as an operator uses it: show the defaults, set a policy (recorded),
try it without spending a budget, drop it."""

from __future__ import annotations

from infrastructure.embedded.engines import Engines
from tests.e2e.test_cli import vibehq


def test_limits_from_the_shell(engines: Engines, database_url: str) -> None:
    env = {
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": engines.nats_url,
        "COLUMNS": "200",
    }
    shown = vibehq("limits", "show", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "rate 1200 per 60s, bursts of 1200" in shown.stdout
    assert "default" in shown.stdout
    set_ = vibehq(
        "limits", "set", "model-calls", "--quota", "--limit", "800", "--per", "1h",
        "--weight", "pro=4", "--weight", "flash=1", "--override", "big-factory=2000",
        env=env,
    )  # fmt: skip
    assert set_.returncode == 0, set_.stderr
    assert "quota 800 per 3600s (UTC windows); weights pro=4, flash=1" in set_.stdout
    assert "big-factory=2000" in set_.stdout
    assert "set by operator" in set_.stdout
    tried = vibehq(
        "limits", "test", "model-calls", "--actor", "f", "--requests", "202", "--model", "pro",
        env=env,
    )  # fmt: skip
    assert tried.returncode == 0, tried.stderr
    assert tried.stdout.strip().endswith("model-calls for f: 200 of 202 admitted")
    again = vibehq("limits", "test", "model-calls", "--actor", "f", "--requests", "1", env=env)
    assert again.stdout.strip().endswith("1 of 1 admitted")  # a throwaway key each time
    rate = vibehq(
        "limits", "set", "writes", "--limit", "2", "--per", "60", "--shadow", env=env
    )  # fmt: skip
    assert "shadow" in rate.stdout
    bad = vibehq("limits", "set", "everything", "--limit", "1", "--per", "1", env=env)
    assert (bad.returncode, bad.stderr.splitlines()[0]) == (
        2,
        "vibehq: no limit group 'everything'; one of: writes, workspaces, model-calls, "
        "session-starts, auth-failures.",
    )
    per = vibehq("limits", "set", "writes", "--limit", "1", "--per", "soon", env=env)
    assert per.returncode == 2
    assert "not a duration like 60, 60s, 1h or 1d" in per.stderr
    burst = vibehq(
        "limits", "set", "workspaces", "--quota", "--limit", "5", "--per", "1d",
        "--burst", "2", env=env,
    )  # fmt: skip
    assert (burst.returncode, burst.stderr.strip()) == (
        2,
        "vibehq: a quota has no burst: it is `limit` per window",
    )
    removed = vibehq("limits", "remove", "model-calls", env=env)
    assert removed.returncode == 0, removed.stderr
    assert "model-calls" not in removed.stdout
