"""Settings from the environment: defaults, parsing, and one-line errors."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from infrastructure.settings import (
    SETTINGS,
    Settings,
    SettingsError,
    default_text,
    env_default,
    load_settings,
    mask_password,
)
from interfaces.cli.main import app
from tests.conftest import ROOT


def test_defaults_need_no_environment() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.database_url is None  # embedded PostgreSQL
    assert settings.data_dir == ".vibehq"


def test_values_are_parsed_from_strings() -> None:
    settings = load_settings(
        {
            "VIBEHQ_PORT": "9000",
            "VIBEHQ_POLL_INTERVAL": "0.25",
            "VIBEHQ_TRACING": "console",
            "VIBEHQ_DATABASE_URL": "postgresql://db/x",
            "VIBEHQ_DATA_DIR": "/srv/vibehq",
        }
    )
    assert settings.port == 9000
    assert settings.poll_interval == 0.25
    assert settings.tracing == "console"
    assert settings.database_url == "postgresql://db/x"
    assert settings.data_dir == "/srv/vibehq"


def test_platform_style_database_url_is_honoured_but_ours_wins() -> None:
    assert load_settings({"DATABASE_URL": "postgresql://a/b"}).database_url == "postgresql://a/b"
    both = load_settings(
        {"DATABASE_URL": "postgresql://a/b", "VIBEHQ_DATABASE_URL": "postgresql://c/d"}
    )
    assert both.database_url == "postgresql://c/d"


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("VIBEHQ_PORT", "eighty", "Expected `int`"),
        ("VIBEHQ_PORT", "70000", "<= 65535"),
        ("VIBEHQ_TRACING", "loud", "(one of: console, off, otlp)"),
        ("VIBEHQ_WORKERS", "0", ">= 1"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(variable: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({variable: value})
    message = str(caught.value)
    assert message.startswith(f"{variable}={value!r} is invalid")
    assert says in message
    assert "\n" not in message


def _readme_rows() -> dict[str, str]:
    readme = (ROOT / "README.md").read_text()
    return dict(re.findall(r"^\| `(VIBEHQ_[A-Z_]+)` \| (.*) \|$", readme, re.M))


def test_readme_documents_every_setting_with_the_default_the_code_has() -> None:
    rows = _readme_rows()
    assert set(rows) == set(SETTINGS), set(rows) ^ set(SETTINGS)
    wrong = {
        name: default_text(name)
        for name, text in rows.items()
        if default_text(name) is not None and f"Default `{default_text(name)}`" not in text
    }
    assert not wrong, f"README rows whose default differs from the code: {wrong}"
    said_twice = [name for name, text in rows.items() if text.count("Default") > 1]
    assert not said_twice


def test_meanings_leave_the_default_to_the_settings_struct() -> None:
    # A default written by hand in a meaning drifts; help_text() appends the real one.
    assert not [name for name, (_, meaning) in SETTINGS.items() if "Default" in meaning]


def test_the_ops_environment_file_names_every_setting_and_the_real_defaults() -> None:
    text = (ROOT / "ops" / "vibehq.env").read_text()
    commented = dict(re.findall(r"^# (VIBEHQ_[A-Z_]+)=(.*)$", text, re.M))
    set_here = dict(re.findall(r"^(VIBEHQ_[A-Z_]+)=(.*)$", text, re.M))
    assert set(commented) | set(set_here) == set(SETTINGS)
    wrong = {
        name: (value, env_default(name))
        for name, value in commented.items()
        if value != (env_default(name) or "")
    }
    assert not wrong, f"ops/vibehq.env shows defaults the code does not have: {wrong}"
    assert load_settings(commented) == Settings()


def test_vibehq_settings_prints_every_variable_with_its_default_and_hides_secrets() -> None:
    secret_seed = "c2VjcmV0LXNpZ25pbmcta2V5LXNlZWQtMzItYnl0ZXMh"
    env = {
        "VIBEHQ_SIGNING_KEY": secret_seed,
        "VIBEHQ_DATABASE_URL": "postgresql://vibehq:hunter2pw@db:5432/vibehq",
        "VIBEHQ_APPEND_GROUPS": "3",
    }
    result = CliRunner().invoke(app, ["settings"], env=env)

    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert set(lines) == set(SETTINGS)
    assert "Default `1`." in lines["VIBEHQ_APPEND_GROUPS"]
    assert " 3 " in lines["VIBEHQ_APPEND_GROUPS"]
    assert "Default `10 MiB`." in lines["VIBEHQ_MAX_FILE_BYTES"]
    assert secret_seed not in result.output
    assert "hunter2pw" not in result.output
    assert "postgresql://vibehq:***@db:5432/vibehq" in lines["VIBEHQ_DATABASE_URL"]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://postgres@/postgres?host=/d", "postgresql://postgres@/postgres?host=/d"),
        ("nats://a:b@x:1,nats://tok@y:2", "nats://a:***@x:1,nats://***@y:2"),
        ("nats://y:2,x:1", "nats://y:2,x:1"),
        ("not a url", "not a url"),
    ],
)
def test_passwords_in_urls_are_masked(url: str, shown: str) -> None:
    assert mask_password(url) == shown
