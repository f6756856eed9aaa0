"""Settings from the environment: defaults, parsing, and one-line errors."""

from __future__ import annotations

import pytest

from infrastructure.settings import SETTINGS, Settings, SettingsError, load_settings
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


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in SETTINGS if f"`{name}`" not in readme]
    assert not missing, f"README configuration table lacks {missing}"
