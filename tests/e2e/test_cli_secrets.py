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


def test_rotate_list_and_env_profiles_from_the_shell(engines: Engines, database_url: str) -> None:
    env = {
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": engines.nats_url,
        "FIRST": f"sk-{random_secrets.token_urlsafe(24)}",
        "SECOND": f"sk-{random_secrets.token_urlsafe(24)}",
    }
    missing = vibehq("secrets", "rotate", "openai-prod", "--from-env", "SECOND", env=env)
    assert (missing.returncode, missing.stderr.strip()) == (
        2,
        "vibehq: no secret named 'openai-prod'",
    )
    vibehq("secrets", "set", "openai-prod", "--from-env", "FIRST", env=env)
    rotated = vibehq("secrets", "rotate", "openai-prod", "--from-env", "SECOND", env=env)
    assert rotated.returncode == 0, rotated.stderr
    assert "2 version(s)" in rotated.stdout
    stale = vibehq("secrets", "list", env=env)  # nothing has run the projection yet
    assert "vibehq projections rebuild secrets" in stale.stderr
    assert vibehq("projections", "rebuild", "secrets", env=env).returncode == 0
    listed = vibehq("secrets", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if "openai-prod" in line]
    cells = [cell.strip() for cell in row.split("│") if cell.strip()]
    assert cells[:5] == ["openai-prod", "api_key", "operator", "2", "0"]
    assert listed.stderr == ""
    defined = vibehq(
        "env-profile", "set", "cli-agent", "OPENAI_API_KEY=openai-prod",
        "--optional", "NPM_TOKEN=npm-token", env=env,
    )  # fmt: skip
    assert defined.returncode == 0, defined.stderr
    shown = vibehq("env-profile", "show", "cli-agent", env=env)
    assert "OPENAI_API_KEY <- secret openai-prod" in shown.stdout
    assert "NPM_TOKEN <- secret npm-token  (optional)" in shown.stdout
    bad = vibehq("env-profile", "set", "cli-agent", "OPENAI_API_KEY", env=env)
    assert (bad.returncode, bad.stderr.strip()) == (
        2,
        "vibehq: 'OPENAI_API_KEY' is not VARIABLE=secret-name",
    )
    lower = vibehq("env-profile", "set", "cli-agent", "openai=openai-prod", env=env)
    assert lower.returncode == 2
    assert lower.stderr.startswith("vibehq: 'openai' is not an environment variable name")
    for result in (rotated, stale, listed, defined, shown):
        assert env["FIRST"] not in result.stdout + result.stderr
        assert env["SECOND"] not in result.stdout + result.stderr
