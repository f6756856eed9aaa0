"""`vibehq secrets` as an operator uses it: values in through stdin or a variable,
never printed back; grants, the release history and shredding."""

from __future__ import annotations

import os
import secrets as random_secrets
import subprocess
from pathlib import Path

from infrastructure.embedded.engines import Engines
from tests.conftest import ROOT
from tests.e2e.test_cli import VIBEHQ, vibehq


def test_secrets_from_the_shell_never_echo_a_value(engines: Engines, database_url: str) -> None:
    value = f"ghp_{random_secrets.token_urlsafe(30)}"
    rotated = f"ghp_{random_secrets.token_urlsafe(30)}"
    env = {
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": engines.nats_url,
        "GITHUB_BOT_TOKEN": value,
    }
    made = vibehq(
        "secrets", "set", "github-bot", "--kind", "token", "--from-env", "GITHUB_BOT_TOKEN", env=env
    )
    assert made.returncode == 0, made.stderr
    assert "github-bot (token) owned by operator: 1 version(s)" in made.stdout
    piped = subprocess.run(
        [VIBEHQ, "secrets", "set", "github-bot"],
        input=rotated + "\n",
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert piped.returncode == 0, piped.stderr
    assert "2 version(s)" in piped.stdout
    granted = vibehq(
        "secrets", "grant", "github-bot", "--to", "agent-runner", "--purpose", "git", env=env
    )
    assert "granted to agent-runner for git" in granted.stdout
    bad = vibehq("secrets", "grant", "github-bot", "--to", "x", "--purpose", "anything", env=env)
    assert bad.returncode == 2
    assert bad.stderr.startswith("vibehq: purpose:")
    reads = vibehq("secrets", "reads", "github-bot", env=env)
    assert reads.returncode == 0, reads.stderr
    missing = vibehq("secrets", "show", "nope", env=env)
    assert (missing.returncode, missing.stderr.strip()) == (2, "vibehq: no secret named 'nope'")
    wrong = vibehq("secrets", "shred", "github-bot", "--confirm", "github", env=env)
    assert wrong.returncode == 2
    shredded = vibehq("secrets", "shred", "github-bot", "--confirm", "github-bot", env=env)
    assert shredded.returncode == 0, shredded.stderr
    assert "shredded" in shredded.stdout
    for result in (made, piped, granted, bad, reads, missing, wrong, shredded):
        assert value not in result.stdout + result.stderr
        assert rotated not in result.stdout + result.stderr


def test_master_key_rotation_from_the_shell(
    engines: Engines, database_url: str, tmp_path: Path
) -> None:
    env = {
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": engines.nats_url,
        "VIBEHQ_DATA_DIR": str(tmp_path),  # the key ring lives in the data folder
        "TOKEN": f"tok_{random_secrets.token_urlsafe(24)}",
    }
    assert vibehq("secrets", "set", "npm-token", "--from-env", "TOKEN", env=env).returncode == 0
    assert "version 1: 1 data key(s)" in vibehq("master-key", "status", env=env).stdout
    rotated = vibehq("master-key", "rotate", env=env)
    assert "master key version 2 is current" in rotated.stdout
    early = vibehq("master-key", "retire", "1", env=env)
    assert early.returncode == 1
    assert "still wrapped by master key version 1" in early.stderr
    assert "re-wrapped 1 data key(s)" in vibehq("master-key", "rewrap", env=env).stdout
    assert vibehq("master-key", "retire", "1", env=env).returncode == 0
    status = vibehq("master-key", "status", env=env).stdout
    assert "current master key: version 2" in status
    assert "version 2: 1 data key(s)" in status
