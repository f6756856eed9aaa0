"""ops/ stays true: its environment file loads, its units and runbook run real commands.

A renamed setting or CLI command would otherwise leave an operator with a unit that
fails at 3 a.m.; here it fails the build instead.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import typer.main
import yaml
from prometheus_client.parser import text_string_to_metric_families

from domain.contracts import FollowerLag
from infrastructure.metrics import LogState, exposition
from infrastructure.settings import SETTINGS, load_settings
from interfaces.cli.main import app

OPS = Path(__file__).resolve().parents[2] / "ops"


def _env_file() -> dict[str, str]:
    values = {}
    for line in (OPS / "vibehq.env").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def _is_command(words: list[str]) -> bool:
    """Whether `vibehq <words...>` names a command (options and arguments may follow)."""
    command: Any = typer.main.get_command(app)
    for word in words:
        if not _is_group(command):
            return True  # the rest are the command's own arguments
        if word.startswith("-"):
            return True
        sub = command.commands.get(word)
        if sub is None:
            return False
        command = sub
    return not _is_group(command)


def _is_group(command: Any) -> bool:
    return hasattr(command, "commands")  # typer's groups are not click.Group instances


def test_the_environment_file_names_only_real_settings_and_loads() -> None:
    values = _env_file()

    assert set(values) <= set(SETTINGS), set(values) - set(SETTINGS)
    settings = load_settings(values)  # raises on a bad value, naming the variable
    assert settings.workers == 2
    assert settings.auth == "on"
    assert settings.database_url == values["VIBEHQ_DATABASE_URL"]


def test_the_units_run_commands_the_cli_has() -> None:
    for unit in (OPS / "systemd").glob("*.service"):
        commands = [
            shlex.split(line.split("=", 1)[1])
            for line in unit.read_text().splitlines()
            if line.startswith(("ExecStart=", "ExecStartPre="))
        ]
        assert commands, unit.name
        for argv in commands:
            assert Path(argv[0]).name == "vibehq", argv
            assert _is_command(argv[1:]), f"{unit.name}: {' '.join(argv)}"


def test_every_command_the_runbook_names_exists() -> None:
    runbook = (OPS / "README.md").read_text()
    inline = re.findall(r"`vibehq ([a-z][a-z ]*?)(?: [A-Z<-][^`]*)?`", " ".join(runbook.split()))
    in_blocks = [
        line.split("#")[0].split()[1:]
        for line in runbook.splitlines()
        if line.startswith("vibehq ")
    ]
    named = inline + [" ".join(w for w in words if not w.startswith("-")) for words in in_blocks]

    assert len(named) > 10
    missing = [words for words in named if not _is_command(words.split())]
    assert not missing, missing


def test_the_check_itself_tells_a_missing_command() -> None:
    assert _is_command(["projections", "rebuild"])
    assert not _is_command(["projections", "rebiuld"])
    assert not _is_command(["projections"])  # a group alone runs nothing


def test_the_alert_rules_name_only_metrics_the_service_exposes() -> None:
    lag = FollowerLag(
        name="relay",
        position=0,
        lag_events=0,
        lag_seconds=0.0,
        owner=None,
        active=True,
        model_version=1,
        updated_at=None,
    )
    page = exposition(LogState(lags=[lag], open_incidents=0)).decode()
    exposed = {family.name for family in text_string_to_metric_families(page)}
    rules = yaml.safe_load((OPS / "prometheus" / "alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert len(exprs) >= 6
    named = {
        re.sub(r"_(total|bucket|count|sum)$", "", name)
        for expr in exprs
        for name in re.findall(r"\bvibehq_[a-z_]+", expr)
    }
    assert named <= exposed, named - exposed
    scrape = (OPS / "prometheus" / "scrape.yml").read_text()
    [command] = re.findall(r"`vibehq ([^`]+)`", scrape)
    assert _is_command(shlex.split(command))
