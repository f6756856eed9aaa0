"""ops/ stays true: its environment file loads, its units and runbook run real commands.

A renamed setting or CLI command would otherwise leave an operator with a unit that
fails at 3 a.m.; here it fails the build instead.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import setuptools
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


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((OPS / "compose" / "compose.yaml").read_text())
    return loaded


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None, url
    assert parts.port is not None, url
    return parts.hostname, parts.port


def test_the_compose_file_names_real_commands_settings_services_and_ports() -> None:
    services = _compose()["services"]
    ours = {name: s for name, s in services.items() if s.get("image") == "core-vibe-hq"}
    assert sorted(ours) == ["serve-1", "serve-2", "worker-1", "worker-2"]
    postgres = services["postgres"]["environment"]
    for name, service in ours.items():
        assert _is_command(service["command"]), name
        env = {k: str(v) for k, v in service["environment"].items()}
        assert set(env) <= set(SETTINGS), set(env) - set(SETTINGS)
        settings = load_settings(env)  # every value loads
        assert settings.nats_replicas == 3
        db = urlsplit(env["VIBEHQ_DATABASE_URL"])
        assert (db.hostname, db.port, db.username, db.password, db.path) == (
            "postgres",
            5432,
            postgres["POSTGRES_USER"],
            postgres["POSTGRES_PASSWORD"],
            "/" + postgres["POSTGRES_DB"],
        )
        nats_nodes = [_host_port(url) for url in env["VIBEHQ_NATS_URL"].split(",")]
        assert nats_nodes == [("nats-1", 4222), ("nats-2", 4222), ("nats-3", 4222)]
        assert _host_port(env["VIBEHQ_OTLP_ENDPOINT"]) == ("otel-collector", 4318)
        for published in service.get("ports", []):
            assert published.split(":")[1] == env["VIBEHQ_PORT"], name
    for node in ("nats-1", "nats-2", "nats-3"):
        args = services[node]["command"]
        assert "--jetstream" in args
        routes = args[args.index("--routes") + 1].split(",")
        assert [_host_port(r) for r in routes] == [(f"nats-{i}", 6222) for i in (1, 2, 3)]
        assert args[args.index("--cluster") + 1].endswith(":6222")
    collector = yaml.safe_load((OPS / "compose" / "otel-collector.yaml").read_text())
    receiving = collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert receiving.endswith(":4318")
    [exporter] = collector["exporters"].values()
    assert exporter["endpoint"].split(":")[0] in services
    assert services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"


def test_the_image_runs_a_real_command_unprivileged_on_the_port_it_checks() -> None:
    text = (OPS / "Dockerfile").read_text()
    final = text[text.rindex("\nFROM ") :]  # the image that ships
    assert re.search(r'^ENTRYPOINT \["vibehq"\]$', final, re.M)
    [command] = re.findall(r"^CMD (\[.*\])$", final, re.M)
    assert _is_command(json.loads(command))
    [user] = re.findall(r"^USER (\S+)$", final, re.M)
    assert user not in ("root", "0")
    env = dict(re.findall(r"(VIBEHQ_[A-Z_]+)=(\S+)", final))
    assert set(env) <= set(SETTINGS)
    load_settings(env)
    [exposed] = re.findall(r"^EXPOSE (\d+)$", final, re.M)
    assert exposed == env["VIBEHQ_PORT"]
    assert f"127.0.0.1:{exposed}/health" in final
    for copied in re.findall(r"^COPY (\w+) ", text, re.M):
        assert (OPS.parent / copied).is_dir(), copied


def test_the_wheel_holds_the_service_without_tests_or_benchmarks() -> None:
    config = tomllib.loads((OPS.parent / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    packaged = setuptools.find_packages(where=str(OPS.parent), include=include)
    tops = {name.split(".")[0] for name in packaged}
    assert tops == {"domain", "application", "infrastructure", "interfaces"}
