"""`vibehq patch apply FILE` as a user runs it: check first, apply once, refuse clearly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from infrastructure.embedded.engines import Engines
from infrastructure.event_store.postgres_store import PostgresEventStore, read_all
from tests.e2e.test_cli_inspect import env_for, run_cli
from tests.integration.workload import record_workload

pytestmark = pytest.mark.timeout(180)

ENVELOPE = """*** Begin Patch
*** Update File: a.txt
@@
-0-0
+patched
*** Add File: notes/readme.md
+# notes
*** End Patch
"""


async def test_a_patch_file_is_checked_then_applied_once_by_short_workspace_id(
    database_url: str,
    engines: Engines,
    pool: asyncpg.Pool,
    store: PostgresEventStore,
    tmp_path: Path,
) -> None:
    await record_workload(store, pool, rounds=1)
    [created, *_] = await read_all(store)
    ws = str(created.stream_id)[:8]
    env = env_for(database_url, engines)
    patch = tmp_path / "change.patch"
    patch.write_text(ENVELOPE)

    events = len(await read_all(store))
    code, out, err = await run_cli(
        "patch", "apply", str(patch), "--workspace", ws, "--check", env=env
    )
    assert code == 0, err
    assert " a.txt | +1 -1 (modified)" in out
    assert " notes/readme.md | +1 -0 (added)" in out
    assert out.strip().endswith("would apply: 2 file(s)")
    assert len(await read_all(store)) == events  # --check recorded nothing

    code, out, err = await run_cli("patch", "apply", str(patch), "--workspace", ws, env=env)
    assert (code, out.strip().splitlines()[-1]) == (0, "applied: 2 file(s)"), err
    code, _, err = await run_cli("patch", "apply", str(patch), "--workspace", ws, env=env)
    assert code == 1  # decided afresh against the new version, where it no longer fits
    assert err.startswith("vibehq: refused: a.txt: hunk 1")
    assert len(await read_all(store)) == events + 2  # the applied patch, the refusal

    code, out, _ = await run_cli("workspace", "show", ws, "--path", "a.txt", env=env)
    assert out == "patched\n"
    refused = tmp_path / "stale.patch"
    refused.write_text(ENVELOPE.replace("-0-0", "-not there"))
    code, _, err = await run_cli("patch", "apply", str(refused), "--workspace", ws, env=env)
    assert code == 1
    assert err.startswith("vibehq: refused: a.txt: hunk 1")
    code, _, err = await run_cli(
        "patch", "apply", str(tmp_path / "nope"), "--workspace", ws, env=env
    )
    assert (code, err.startswith("vibehq: cannot read")) == (2, True)
    await asyncio.sleep(0)
