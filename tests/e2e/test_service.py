"""The service as a user starts it: `vibehq serve` as a subprocess, driven over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from infrastructure.embedded.common import free_port
from infrastructure.embedded.engines import Engines
from interfaces.http.serving import listening_sockets
from tests.conftest import ROOT


def wait_until_serving(base: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"server exited early:\n{process.stderr.read() if process.stderr else ''}"
            )
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not answer /health within 60 s")


@contextmanager
def serving(
    env: dict[str, str], cwd: Path, stop_within: float = 30, output: Path | None = None
) -> Iterator[str]:
    """Run `vibehq serve` on a free port until the block ends, then stop it with Ctrl-C.

    With `output`, everything the server prints (banner, logs, access log) goes there.
    """
    port = free_port()
    log = output.open("w") if output is not None else None
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "vibehq"), "serve", "--port", str(port)],
        cwd=cwd,
        stderr=log or subprocess.PIPE,
        stdout=log or subprocess.DEVNULL,
        text=True,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, process)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(stop_within) == 0
        if log is not None:
            log.close()


def test_health_ready_and_openapi(served: str) -> None:
    assert httpx.get(f"{served}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{served}/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    checks = ready.json()["checks"]
    assert {c["name"] for c in checks} == {"postgres", "migrations", "nats", "followers"}
    # /ready is public: it says what is up, never which versions run.
    assert not any(char.isdigit() for c in checks for char in c["detail"]), checks
    spec = httpx.get(f"{served}/schema/openapi.json").json()
    assert spec["info"]["title"] == "Core Vibe HQ"
    assert {"/health", "/ready"} <= set(spec["paths"])
    assert "503" in spec["paths"]["/ready"]["get"]["responses"]


def test_unknown_route_is_problem_json(served: str) -> None:
    response = httpx.get(f"{served}/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 404


def test_serve_on_embedded_engines_starts_and_stops_them(tmp_path: Path) -> None:
    """The README's run command on a machine with nothing configured."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIBEHQ_DATABASE_URL", "VIBEHQ_NATS_URL", "DATABASE_URL", "NATS_URL"}
    }
    env["VIBEHQ_DATA_DIR"] = str(tmp_path / "data")
    output = tmp_path / "serve.log"
    with serving(env, tmp_path, stop_within=60, output=output) as base:
        assert httpx.get(f"{base}/ready").json()["status"] == "ready"
        # A local instance hands its owner an admin token instead of leaving auth off.
        token = (tmp_path / "data" / "dev-token").read_text().strip()
        missing = f"{base}/workspaces/{'0' * 32}"
        assert httpx.get(missing).status_code == 401
        assert httpx.get(missing, headers={"Authorization": f"Bearer {token}"}).status_code == 404
        # Feeds take the token in the query; the access log must not keep it.
        with httpx.stream("GET", f"{base}/sse/ops?token={token}", timeout=5) as feed:
            assert feed.status_code == 200
    printed = output.read_text()
    assert str(tmp_path / "data" / "dev-token") in printed  # where it is, not what it is
    assert "GET /sse/ops?token=***" in printed
    assert token not in printed
    status = subprocess.run(
        [str(Path(sys.executable).parent / "vibehq"), "engines", "status"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout.count("stopped") == 2, status.stdout


def test_several_workers_share_the_port_and_the_work(engines: Engines, database_url: str) -> None:
    env = {
        **os.environ,
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": engines.nats_url,
        "VIBEHQ_AUTH": "off",
        "VIBEHQ_WORKERS": "2",
    }
    with serving(env, ROOT) as base, httpx.Client(base_url=base, timeout=30) as client:
        if sys.platform == "linux":
            # One listening socket per worker (SO_REUSEPORT): the kernel spreads clients.
            port = int(base.rsplit(":", 1)[1])
            deadline = time.monotonic() + 30
            while listening_sockets(port) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert listening_sockets(port) == 2
        created = client.post("/workspaces", json={"name": "two", "files": []})
        assert created.status_code == 201, created.text
        ws = created.json()["id"]
        for n in range(20):  # keep-alive requests, served by whichever worker accepted
            patch = client.post(
                f"/workspaces/{ws}/patches",
                json={
                    "base_version": n + 1,
                    "task_id": "t",
                    "operations": [{"op": "write_file", "path": "a", "content": f"{n}\n"}],
                },
            )
            assert patch.status_code == 201, patch.text
        assert client.get(f"/workspaces/{ws}").json()["version"] == 21
        # The followers run once, in the supervisor: the report counts every patch once.
        report = client.get(
            "/tasks/t/delivery-report", params={"after_position": patch.json()["position"]}
        )
        assert report.headers["Vibehq-Caught-Up"] == "true"
        assert report.json()["factories"][0]["patches_applied"] == 20
        # A WebSocket upgrade through a worker's protocol: the feed replays from the start.
        feed = base.replace("http://", "ws://") + f"/ws/workspaces/{ws}?after=0"
        with connect(feed, open_timeout=15) as socket:
            first = json.loads(socket.recv(timeout=15))
        assert (first["workspace_id"], first["outcome"]) == (ws, "applied")


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_die_with_a_killed_supervisor(engines: Engines, database_url: str) -> None:
    """SIGKILL leaves a supervisor no time to stop its workers; they must go anyway, or
    they would serve writes with no projections or relay behind them."""
    env = {
        **os.environ,
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": engines.nats_url,
        "VIBEHQ_AUTH": "off",
        "VIBEHQ_WORKERS": "2",
    }
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "vibehq"), "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}", process)
        deadline = time.monotonic() + 30
        while listening_sockets(port) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert listening_sockets(port) == 2
        process.kill()
        process.wait(10)
        deadline = time.monotonic() + 10
        while listening_sockets(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert listening_sockets(port) == 0, "workers outlived their supervisor"
    finally:
        if process.poll() is None:
            process.kill()
