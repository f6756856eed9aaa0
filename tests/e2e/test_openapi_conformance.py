"""The API does what its OpenAPI document says, for inputs nobody thought of.

Schemathesis generates requests for every operation from `/schema/openapi.json` (valid
and invalid ones, a fixed seed, a bounded number of examples each) and sends them to
`vibehq serve` on a database of its own, with an admin token. Every answer must be a
non-5xx, with a status, content type and body the document declares for it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from infrastructure.database_url import with_database
from infrastructure.embedded.engines import Engines
from infrastructure.event_store.migrator import migrate
from tests.conftest import ROOT
from tests.e2e.test_cli import vibehq
from tests.e2e.test_service import serving

pytestmark = pytest.mark.timeout(600)

#: Examples per operation and mode: enough to find a 500 or an undocumented status in
#: each, few enough for CI (about 25 operations, two modes).
EXAMPLES = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


async def _fresh_database(admin_url: str, name: str) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(with_database(admin_url, name))
    try:
        await migrate(conn)
    finally:
        await conn.close()


async def _drop_database(admin_url: str, name: str) -> None:
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="module")
def served_with_token(engines: Engines) -> Iterator[tuple[str, str]]:
    name = f"vibehq_conformance_{uuid.uuid4().hex[:8]}"
    asyncio.run(_fresh_database(engines.database_url, name))
    env = {
        **os.environ,
        "VIBEHQ_DATABASE_URL": with_database(engines.database_url, name),
        "VIBEHQ_NATS_URL": engines.nats_url,
        "VIBEHQ_NATS_PREFIX": f"c{uuid.uuid4().hex[:10]}",
    }
    try:
        created = vibehq("tokens", "create", "--actor", "fuzzer", "--scope", "admin", env=env)
        assert created.returncode == 0, created.stderr
        token = next(w for w in created.stdout.split() if w.startswith("vhq_"))
        with serving(env, ROOT) as base:
            yield base, token
    finally:
        asyncio.run(_drop_database(engines.database_url, name))


def _operations(base: str) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{base}/schema/openapi.json")
    # Server-Sent Events never end, so a request cannot wait for their body.
    schema = schema.exclude(path_regex="^/sse/")
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_documented(
    served_with_token: tuple[str, str], mode: GenerationMode
) -> None:
    base, token = served_with_token
    operations = _operations(base)
    assert len(operations) >= 25, [op.label for op in operations]
    failures: dict[str, str] = {}
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(
                base_url=base, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
            )

        try:
            check()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE  # nothing to get wrong: no inputs
        except Exception as failure:  # noqa: BLE001 - collected, all reported below
            failures[operation.label] = str(failure)[:2000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
