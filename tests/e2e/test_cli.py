"""The `vibehq` command as a user runs it: exit codes and what it prints."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.embedded.engines import Engines
from tests.conftest import ROOT

VIBEHQ = str(Path(sys.executable).parent / "vibehq")


def vibehq(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VIBEHQ, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_help_teaches_the_commands() -> None:
    result = vibehq("--help")
    assert result.returncode == 0
    for command in ("serve", "demo", "tokens", "doctor", "db", "schema", "engines"):
        assert command in result.stdout


def test_a_bad_setting_is_one_line_and_exit_code_2() -> None:
    result = vibehq("doctor", env={"VIBEHQ_PORT": "eighty"})
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "vibehq: VIBEHQ_PORT='eighty' is invalid: Expected `int`, got `str`"
    )
    assert "Traceback" not in result.stderr


def test_migrate_then_doctor_is_all_green(engines: Engines, database_url: str) -> None:
    env = {"VIBEHQ_DATABASE_URL": database_url, "VIBEHQ_NATS_URL": engines.nats_url}
    migrated = vibehq("db", "migrate", env=env)
    doctor = vibehq("doctor", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.strip() == "schema is already current"  # template is migrated
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "[ok  ] postgres" in doctor.stdout
    assert "[ok  ] migrations" in doctor.stdout
    assert "[ok  ] nats" in doctor.stdout


def test_doctor_says_what_is_wrong_and_how_to_fix_it(engines: Engines) -> None:
    env = {
        "VIBEHQ_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nothing",
        "VIBEHQ_NATS_URL": engines.nats_url,
    }
    result = vibehq("doctor", env=env)
    assert result.returncode == 1
    assert "[FAIL] postgres" in result.stdout
    assert "fix: check VIBEHQ_DATABASE_URL" in result.stdout


def test_schema_export_writes_files_and_refuses_an_unwritable_folder(tmp_path: Path) -> None:
    ok = vibehq("schema", "export", str(tmp_path / "out"))
    assert ok.returncode == 0
    assert (tmp_path / "out" / "patch-submission.schema.json").exists()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    bad = vibehq("schema", "export", str(blocker / "out"))
    assert bad.returncode == 1
    assert bad.stderr.startswith("vibehq: cannot write to")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_demo_shows_apply_conflict_and_revert_and_runs_again(
    engines: Engines, database_url: str
) -> None:
    env = {
        "VIBEHQ_DATABASE_URL": database_url,
        "VIBEHQ_NATS_URL": engines.nats_url,
        "COLUMNS": "160",
    }
    result = vibehq("demo", env=env)
    assert result.returncode == 0, result.stderr
    # The same data again (its incident is still open, its task already owned): it runs.
    again = vibehq("demo", env=env)
    assert again.returncode == 0, again.stderr
    assert "was already open" in again.stdout
    assert again.stdout.count("-> 201") == 7
    out = result.stdout
    # workspace, two patches, the revert, checks, the delivery, the ops event
    assert out.count("-> 201") == 7
    assert out.count("POST /workspaces/") >= 2
    assert "may now write to it" in out  # the owner granted its teammates
    assert "-> 409  stale_base" in out
    assert "src/shop/cart.py (v5)" in out
    assert "+def with_discount" in out
    report = next(line for line in out.splitlines() if "pytest passed" in line)
    assert "agent-factory" in report
    assert "delivered" in report
    assert "build-service: degraded" in out
    assert "/schema" in out


def test_token_commands_explain_bad_input() -> None:
    result = vibehq("tokens", "create", "--actor", "x", "--scope", "root")
    assert result.returncode == 2
    assert "root" in result.stderr


def test_tokens_are_listed_by_short_id_and_revoked_by_any_unique_start(
    engines: Engines, database_url: str
) -> None:
    env = {"VIBEHQ_DATABASE_URL": database_url, "VIBEHQ_NATS_URL": engines.nats_url}
    for name in ("ci", "laptop"):
        made = vibehq("tokens", "create", "--actor", "ui-factory", "--name", name, env=env)
        assert made.returncode == 0, made.stderr
    listing = vibehq("tokens", "list", env=env)
    rows = {line.split()[1]: line.split()[0] for line in listing.stdout.splitlines()[1:]}
    assert set(rows) == {"ci", "laptop"}
    assert all(len(short_id) == 8 for short_id in rows.values())

    revoked = vibehq("tokens", "revoke", rows["ci"], env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.startswith(f"revoked {rows['ci']}")
    assert len(revoked.stdout.split()[1]) == 36  # it says which token, in full
    again = vibehq("tokens", "revoke", rows["ci"][:6], env=env)
    assert (again.returncode, again.stderr.strip().count("\n")) == (1, 0)
    assert again.stderr.startswith("vibehq: no active token with id")
    missing = vibehq("tokens", "revoke", "0000000000", env=env)
    assert missing.returncode == 2
    assert "no token id starts with '0000000000'" in missing.stderr


def test_an_unreachable_nats_is_one_line_in_seconds_not_a_two_minute_hang(
    database_url: str,
) -> None:
    env = {"VIBEHQ_DATABASE_URL": database_url, "VIBEHQ_NATS_URL": "nats://127.0.0.1:2"}
    for command in (("serve", "--port", "0"), ("worker",), ("doctor",)):
        began = time.monotonic()
        result = vibehq(*command, env=env)
        took = time.monotonic() - began
        assert result.returncode == 1, (command, result.stderr)
        assert took < 30, f"{command[0]} took {took:.0f}s"
        assert "Traceback" not in result.stdout + result.stderr, command
        if command[0] == "doctor":
            assert "[FAIL] nats        unreachable: " in result.stdout
            assert "fix: check VIBEHQ_NATS_URL" in result.stdout
        else:
            [line] = [x for x in result.stderr.splitlines() if x.startswith("vibehq: ")]
            assert line.startswith("vibehq: NATS at nats://127.0.0.1:2 is unreachable (")
            assert "Connect call failed" in line


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (a black-holing
    firewall, a hung server): what makes a client without timeouts wait forever."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield listener.getsockname()[1]
    listener.close()


def test_servers_that_never_answer_get_a_verdict_in_seconds(silent_server: int) -> None:
    env = {
        "VIBEHQ_DATABASE_URL": f"postgresql://u:p@127.0.0.1:{silent_server}/x",
        "VIBEHQ_NATS_URL": f"nats://127.0.0.1:{silent_server}",
    }
    began = time.monotonic()
    doctor = vibehq("doctor", env=env)
    took = time.monotonic() - began
    assert doctor.returncode == 1
    assert took < 15, f"doctor took {took:.0f}s"  # both checked at once, 5 s timeouts
    assert "did not answer within 5s" in doctor.stdout
    assert "[FAIL] nats        unreachable: no answer within 3s" in doctor.stdout
    serve = vibehq("serve", "--port", "0", env=env)
    assert serve.returncode == 1
    [line] = [x for x in serve.stderr.splitlines() if x.startswith("vibehq: ")]
    assert line == (
        f"vibehq: PostgreSQL at 127.0.0.1:{silent_server} did not answer within 5s; "
        "check VIBEHQ_DATABASE_URL and the network"
    )


def test_sigterm_stops_serve_while_it_is_still_starting(silent_server: int) -> None:
    env = {
        **os.environ,
        "VIBEHQ_DATABASE_URL": f"postgresql://u:p@127.0.0.1:{silent_server}/x",
        "VIBEHQ_NATS_URL": f"nats://127.0.0.1:{silent_server}",
    }
    process = subprocess.Popen(
        [VIBEHQ, "serve", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.5)  # waiting for a database that does not answer
    assert process.poll() is None
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(10)
    assert time.monotonic() - sent < 3


def test_a_worker_for_an_unknown_follower_is_one_line_naming_the_known_ones() -> None:
    result = vibehq("worker", "--only", "relay,projector")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "vibehq: --only 'relay,projector': no follower named projector; the followers "
        "are delivery, ops, workspaces, secrets, relay, audit\n"
    )
