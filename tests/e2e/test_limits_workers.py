"""The configured limit is the effective one with 1, 2 or 4 `serve` workers: every
worker decides in the same PostgreSQL row, none keeps a budget of its own."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from infrastructure.embedded.engines import Engines
from tests.conftest import ROOT
from tests.e2e.test_cli import vibehq
from tests.e2e.test_service import serving

pytestmark = pytest.mark.timeout(180)

LIMIT = 6


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_the_limit_holds_whatever_the_number_of_workers(
    engines: Engines, database_url: str, workers: int
) -> None:
    env = {
        **os.environ,
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": engines.nats_url,
        "VIBEHQ_WORKERS": str(workers),
        "VIBEHQ_LIMIT_WRITES": str(LIMIT),
    }
    token = vibehq("tokens", "create", "--actor", f"factory-{workers}", env=env).stdout.strip()
    with serving(env, ROOT) as base:

        def beat(n: int) -> int:
            # A new connection each time: the kernel spreads them over the workers.
            return httpx.post(
                f"{base}/ops/heartbeats",
                json={"source": f"s{n}", "interval_seconds": 30},
                headers={"Authorization": f"Bearer {token}"},
            ).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(beat, range(4 * LIMIT)))
    # A minute's worth of burst, plus what the rate refills while the test runs (≤ 1).
    assert LIMIT <= statuses.count(201) <= LIMIT + 1, statuses
    assert statuses.count(429) == len(statuses) - statuses.count(201)


def test_a_policy_set_on_one_worker_holds_on_all_of_them(
    engines: Engines, database_url: str
) -> None:
    env = {
        **os.environ,
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": engines.nats_url,
        "VIBEHQ_WORKERS": "4",
    }
    admin = vibehq("tokens", "create", "--actor", "root", "--scope", "admin", env=env)
    token = vibehq("tokens", "create", "--actor", "factory-p", env=env).stdout.strip()
    prober = vibehq("tokens", "create", "--actor", "prober", env=env).stdout.strip()
    with serving(env, ROOT) as base:
        policy = {"kind": "rate", "limit": LIMIT, "per_seconds": 60}
        set_ = httpx.put(
            f"{base}/limits/writes",
            json=policy,
            headers={"Authorization": f"Bearer {admin.stdout.strip()}"},
        )
        assert set_.status_code == 200, set_.text

        def beat(n: int, token: str = token) -> tuple[int, str]:
            answer = httpx.post(
                f"{base}/ops/heartbeats",
                json={"source": f"s{n}", "interval_seconds": 30},
                headers={"Authorization": f"Bearer {token}"},
            )
            return answer.status_code, answer.headers.get("RateLimit-Policy", "")

        # The other workers learn of it from the change's event on NATS. Another actor
        # probes (its own budget) until a run of fresh connections, spread over all four
        # workers, all answer under the new policy.
        new_policy = f'"writes";q={LIMIT};w=60'
        deadline, in_a_row = time.monotonic() + 20, 0
        while in_a_row < 16 and time.monotonic() < deadline:
            in_a_row = in_a_row + 1 if beat(-1, prober)[1] == new_policy else 0
        assert in_a_row >= 16, "not every worker applied the new policy within 20 s"
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(beat, range(4 * LIMIT)))
    statuses = [status for status, _ in answers]
    assert LIMIT <= statuses.count(201) <= LIMIT + 1, answers
    assert statuses.count(429) == len(statuses) - statuses.count(201)
    assert {header for status, header in answers if status == 201} <= {f'"writes";q={LIMIT};w=60'}
