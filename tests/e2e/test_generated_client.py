"""The OpenAPI document generates a working client: openapi-python-client (pinned in
the dev extras) builds one from `/schema/openapi.json` without warnings about the
responses, and it creates a workspace and submits a patch against `vibehq serve`,
its operations written without their `op` tag."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from infrastructure.embedded.engines import Engines
from tests.conftest import ROOT
from tests.e2e.test_cli import vibehq
from tests.e2e.test_service import serving

pytestmark = pytest.mark.timeout(240)

GENERATOR = Path(sys.executable).parent / "openapi-python-client"


@pytest.mark.skipif(not GENERATOR.exists(), reason="openapi-python-client (dev extras) missing")
def test_a_generated_client_creates_a_workspace_and_submits_a_patch(
    engines: Engines, database_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "VIBEHQ_DATABASE_URL": database_url, "VIBEHQ_NATS_URL": engines.nats_url}
    token = vibehq("tokens", "create", "--actor", "ui-factory", env=env).stdout.strip()
    with serving(env, ROOT) as base:
        spec = tmp_path / "openapi.json"
        spec.write_bytes(httpx.get(f"{base}/schema/openapi.json").content)
        generated = subprocess.run(
            [str(GENERATOR), "generate", "--path", str(spec), "--meta", "none",
             "--output-path", str(tmp_path / "vibehq_generated")],
            cwd=tmp_path,
            env={**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ['PATH']}"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )  # fmt: skip
        assert generated.returncode == 0, generated.stdout + generated.stderr
        assert "Cannot parse" not in generated.stdout + generated.stderr
        sys.path.insert(0, str(tmp_path))
        try:
            client_module = importlib.import_module("vibehq_generated")
            create = importlib.import_module("vibehq_generated.api.workspaces.workspaces_create")
            submit = importlib.import_module(
                "vibehq_generated.api.workspaces.workspaces_workspace_id_patches_submit"
            )
            models = importlib.import_module("vibehq_generated.models")
            client = client_module.AuthenticatedClient(base_url=base, token=token)
            workspace = create.sync(
                client=client,
                body=models.NewWorkspace(
                    name="generated", files=[models.CreateFile(path="app.py", content="x = 1\n")]
                ),
            )
            assert isinstance(workspace, models.WorkspaceSummary), workspace
            record = submit.sync(
                workspace.id,
                client=client,
                body=models.PatchRequest(
                    base_version=workspace.version,
                    task_id="T-gen",
                    operations=[models.WriteFile(path="app.py", content="x = 2\n")],
                ),
            )
            assert isinstance(record, models.PatchRecord), record
            assert (record.outcome.value, record.version) == ("applied", 3)
            refused = submit.sync(
                workspace.id,
                client=client,
                body=models.PatchRequest(
                    base_version=2,
                    task_id="T-gen",
                    operations=[models.DeleteFile(path="app.py")],
                ),
            )
            assert isinstance(refused, models.Problem), refused  # 409 as problem+json
            assert refused.status == 409
        finally:
            sys.path.remove(str(tmp_path))
            for name in [m for m in sys.modules if m.startswith("vibehq_generated")]:
                del sys.modules[name]
            shutil.rmtree(tmp_path / "vibehq_generated", ignore_errors=True)
