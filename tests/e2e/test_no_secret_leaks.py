"""No secret leaves the process where it does not belong.

A full run as a user drives it, with every output collected: `vibehq serve` at debug
level with console tracing (spans and their attributes), its access log, every HTTP
answer (problem bodies included), what NATS subscribers receive (`vibehq tail`),
`vibehq settings` and `vibehq doctor`. The token, the database password and the
signing key are known to the test; none may appear in any of it. The one place a
secret is meant to appear, `vibehq tokens create`'s output of the new token, is the
only output left out.
"""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from infrastructure.embedded.engines import Engines
from tests.conftest import ROOT
from tests.e2e.test_cli import vibehq
from tests.e2e.test_service import serving

pytestmark = pytest.mark.timeout(300)

PASSWORD = "Pw-" + "9f8e7d6c5b4a"  # PostgreSQL in the tests trusts local users, so any works
SIGNING_SEED = bytes(range(100, 132))


def _with_password(url: str) -> tuple[str, str]:
    """The URL with a password, and the password: the embedded server's own, or one
    added (a server that trusts local users accepts any)."""
    parts = urlsplit(url)
    if parts.password:
        return url, parts.password
    if parts.hostname is None:  # a Unix-socket URL: the host is in the query
        return url.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@", 1), (
            PASSWORD
        )
    netloc = f"{parts.username}:{PASSWORD}@{parts.hostname}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), PASSWORD


def test_no_output_of_a_full_run_holds_a_secret(
    engines: Engines, database_url: str, tmp_path: Path
) -> None:
    signing_key = base64.b64encode(SIGNING_SEED).decode()
    database_url, password = _with_password(database_url)
    nats_token = urlsplit(engines.nats_url).username  # the embedded server's, if any
    env = {
        **os.environ,
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": engines.nats_url,
        "VIBEHQ_SIGNING_KEY": signing_key,
        "VIBEHQ_LOG_LEVEL": "debug",
        "VIBEHQ_TRACING": "console",
        "VIBEHQ_CHECKPOINT_SECONDS": "0",
        "VIBEHQ_NATS_PREFIX": f"leak{uuid.uuid4().hex[:8]}",
    }
    created = vibehq("tokens", "create", "--actor", "leaky-factory", env=env)
    assert created.returncode == 0, created.stderr
    token = next(word for word in created.stdout.split() if word.startswith("vhq_"))
    outputs: dict[str, str] = {"tokens create (stderr)": created.stderr}
    served_log = tmp_path / "serve.log"
    answers: list[str] = []
    with serving(env, ROOT, output=served_log) as base:
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, timeout=30) as client:
            ws = client.post("/workspaces", json={"name": "w", "files": []}, headers=auth)
            answers.append(ws.text)
            ws_id = ws.json()["id"]
            for body in (
                {
                    "base_version": 1,
                    "task_id": "t",
                    "operations": [{"op": "delete_file", "path": "x"}],
                },
                {
                    "base_version": 1,
                    "task_id": "t",
                    "message": "m",
                    "operations": [{"op": "write_file", "path": "a.py", "content": "print(1)\n"}],
                },
            ):
                answers.append(
                    client.post(f"/workspaces/{ws_id}/patches", json=body, headers=auth).text
                )
            answers.append(client.get(f"/workspaces/{ws_id}/files", headers=auth).text)
            answers.append(client.get("/sse/ops", params={"token": token + "x"}).text)
            answers.append(
                client.get(
                    f"/workspaces/{ws_id}", headers={"Authorization": "Bearer " + token[:-1]}
                ).text
            )
            answers.append(client.get("/ready").text)
            answers.append(client.get("/schema/openapi.json").text)
            with client.stream("GET", "/sse/ops", params={"token": token}) as sse:
                assert sse.status_code == 200
            answers.append(
                client.post(
                    "/ops/events",
                    json={"source": "s", "kind": "k", "severity": "error"},
                    headers=auth,
                ).text
            )
        tail = vibehq("tail", "events", "--all", "--json", "--count", "3", env=env)
    outputs["serve"] = served_log.read_text()
    outputs["tail"] = tail.stdout + tail.stderr
    outputs["answers"] = "\n".join(answers)
    for command in (("settings",), ("doctor",), ("audit", "trail")):
        result = vibehq(*command, env=env)
        outputs[" ".join(command)] = result.stdout + result.stderr
    assert "PatchApplied" in outputs["tail"], outputs["tail"]
    assert "GET /sse/ops?token=***" in outputs["serve"]  # the access log was there, masked
    secrets = [
        (token, "the API token"),
        (token[4:20], "part of the API token"),
        (password, "the database password"),
        (signing_key, "the signing key"),
    ]
    if nats_token:
        secrets.append((nats_token, "the NATS token"))
    for name, text in outputs.items():
        for secret, what in secrets:
            assert secret not in text, f"{what} appears in {name}"
