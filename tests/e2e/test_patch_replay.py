"""A factory's day through the real server: multi-file patches in, exact bytes out.

`vibehq serve` runs as a subprocess; a token comes from `vibehq tokens create`; the
patches use every operation, CRLF files, a file without a final newline and a binary
asset. The expected tree is computed independently here, and the served tree must
equal it byte for byte, now and at every earlier version.
"""

from __future__ import annotations

import base64
import difflib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infrastructure.embedded.engines import Engines
from tests.conftest import ROOT
from tests.e2e.test_service import serving

VIBEHQ = str(Path(sys.executable).parent / "vibehq")

MAIN_V1 = 'from app.config import settings\n\n\ndef main() -> None:\n    print("hello")\n'
MAIN_V2 = (
    "import logging\n\nfrom app.config import settings\n\nlog = logging.getLogger(__name__)\n\n\n"
    'def main() -> None:\n    log.info("starting with %s", settings)\n    print("hello")\n'
)
RUN_BAT_V1 = "@echo off\r\nset APP=app\r\npython -m %APP%\r\n"
RUN_BAT_V2 = "@echo off\r\nset APP=app\r\nset LOG=debug\r\npython -m %APP% --log %LOG%\r\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3


def diff(path: str, old: str, new: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    return "".join(lines)


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VIBEHQ, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def env(engines: Engines, database_url: str) -> dict[str, str]:
    return {**os.environ, "VIBEHQ_DATABASE_URL": database_url, "VIBEHQ_NATS_URL": engines.nats_url}


@pytest.fixture
def base(env: dict[str, str]) -> Iterator[str]:
    with serving(env, ROOT) as url:
        yield url


PATCHES: list[tuple[str, list[dict[str, Any]]]] = [
    (
        "task-logging",
        [
            {
                "op": "apply_diff",
                "path": "src/app/main.py",
                "diff": diff("src/app/main.py", MAIN_V1, MAIN_V2),
            },
            {
                "op": "create_file",
                "path": "src/app/routes.py",
                "content": "ROUTES: list[str] = []\n",
            },
            {
                "op": "edit_file",
                "path": "README.md",
                "edits": [{"search": "Demo app", "replace": "Demo app with logging"}],
            },
        ],
    ),
    (
        "task-layout",
        [
            {"op": "rename_file", "path": "src/app/routes.py", "to": "src/app/api/routes.py"},
            {"op": "write_file", "path": "src/app/api/__init__.py", "content": ""},
            {"op": "delete_file", "path": "src/app/legacy.py"},
            {
                "op": "create_file",
                "path": "assets/logo.png",
                "content": base64.b64encode(PNG).decode(),
                "encoding": "base64",
            },
        ],
    ),
    (
        "task-windows",
        [
            {
                "op": "apply_diff",
                "path": "scripts/run.bat",
                "diff": diff("scripts/run.bat", RUN_BAT_V1, RUN_BAT_V2),
            },
            {
                "op": "write_file",
                "path": "scripts/run.sh",
                "content": "#!/bin/sh\nexec python -m app\n",
                "mode": "100755",
            },
        ],
    ),
]

INITIAL = {
    "pyproject.toml": b'[project]\nname = "app"\n',
    "src/app/__init__.py": b"",
    "src/app/main.py": MAIN_V1.encode(),
    "src/app/legacy.py": b"# to be removed\n",
    "scripts/run.bat": RUN_BAT_V1.encode(),
    "README.md": b"# Demo app",  # no final newline
}
EXPECTED_AFTER = [
    {
        **INITIAL,
        "src/app/main.py": MAIN_V2.encode(),
        "src/app/routes.py": b"ROUTES: list[str] = []\n",
        "README.md": b"# Demo app with logging",
    },
]
EXPECTED_AFTER.append(
    {
        **{
            k: v
            for k, v in EXPECTED_AFTER[0].items()
            if k not in ("src/app/routes.py", "src/app/legacy.py")
        },
        "src/app/api/routes.py": b"ROUTES: list[str] = []\n",
        "src/app/api/__init__.py": b"",
        "assets/logo.png": PNG,
    }
)
EXPECTED_AFTER.append(
    {
        **EXPECTED_AFTER[1],
        "scripts/run.bat": RUN_BAT_V2.encode(),
        "scripts/run.sh": b"#!/bin/sh\nexec python -m app\n",
    }
)


def tree(client: httpx.Client, ws: str, at: int) -> dict[str, bytes]:
    listing = client.get(f"/workspaces/{ws}/files", params={"at": at}).json()
    return {
        path: client.get(f"/workspaces/{ws}/files/{path}", params={"at": at}).content
        for path in listing["files"]
    }


def test_replayed_patches_give_the_expected_tree_byte_for_byte(
    env: dict[str, str], base: str
) -> None:
    created = run_cli(env, "tokens", "create", "--actor", "services-factory", "--scope", "write")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        response = client.post(
            "/workspaces",
            json={
                "name": "replay",
                "files": [
                    {"path": p, "content": base64.b64encode(c).decode(), "encoding": "base64"}
                    for p, c in INITIAL.items()
                ],
            },
        )
        assert response.status_code == 201, response.text
        ws, version = response.json()["id"], response.json()["version"]
        for (task, operations), expected in zip(PATCHES, EXPECTED_AFTER, strict=True):
            applied = client.post(
                f"/workspaces/{ws}/patches",
                json={"base_version": version, "task_id": task, "operations": operations},
            )
            assert applied.status_code == 201, applied.text
            assert applied.json()["author"] == "services-factory"
            version = applied.json()["version"]
            assert tree(client, ws, version) == expected
        # Time travel: every earlier version is still exactly what it was.
        assert tree(client, ws, 2) == INITIAL
        for offset, expected in enumerate(EXPECTED_AFTER):
            assert tree(client, ws, 3 + offset) == expected
        listing = client.get(f"/workspaces/{ws}/files").json()["files"]
        assert listing["scripts/run.sh"]["mode"] == "100755"


def test_a_revoked_token_stops_working(env: dict[str, str], base: str) -> None:
    created = run_cli(
        env, "tokens", "create", "--actor", "ops-user", "--kind", "user", "--scope", "read"
    )
    token = created.stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{base}/workspaces/{'0' * 32}", headers=headers).status_code == 404
    listed = run_cli(env, "tokens", "list")
    token_id = next(line.split()[0] for line in listed.stdout.splitlines() if "ops-user" in line)
    assert run_cli(env, "tokens", "revoke", token_id).returncode == 0
    deadline = time.monotonic() + 10  # servers cache tokens for 5 s
    while httpx.get(f"{base}/workspaces/{'0' * 32}", headers=headers).status_code != 401:
        assert time.monotonic() < deadline, "revoked token still accepted after 10 s"
        time.sleep(0.5)
    again = run_cli(env, "tokens", "revoke", token_id)
    assert again.returncode == 1
    assert again.stderr.startswith("vibehq: no active token")
    bad = run_cli(env, "tokens", "revoke", "nope")
    assert (bad.returncode, bad.stderr.count("\n")) == (2, 1)
