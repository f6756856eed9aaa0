"""The README's examples run as written: its shell blocks, in order, against `vibehq
serve`, with nothing but the server's address changed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from infrastructure.embedded.engines import Engines
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(180)


def readme_examples() -> str:
    """Every ```sh block of README.md that talks to the server, in order."""
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    return "".join(block for block in blocks if "localhost:8000" in block)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_readmes_examples_run_as_written(
    served: str, engines: Engines, database_url: str
) -> None:
    script = readme_examples()
    assert script.count("curl ") >= 6
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script.replace("localhost:8000", served)],
        cwd=ROOT,
        env={
            **os.environ,
            "VIBEHQ_DATABASE_URL": database_url,
            "VIBEHQ_NATS_URL": engines.nats_url,
        },
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # curl prints its answers back to back; the tail prints one line per event.
    answers = []
    decoder = json.JSONDecoder()
    text = result.stdout
    index = 0
    while (start := text.find("{", index)) != -1 and text[index:start].strip() == "":
        answer, index = decoder.raw_decode(text, start)
        answers.append(answer)
    patch, checks, report, ops_event, overview = answers
    assert (patch["outcome"], patch["version"]) == ("applied", 3)
    assert "position" in checks
    assert report["status"] == "delivered"
    assert [part["factory"] for part in report["factories"]] == ["ui-factory"]
    assert ops_event["incident_opened"] is True
    assert [s["source"] for s in overview["sources"]] == ["builder"]
    tailed = text[index:].strip().splitlines()
    assert [line.split()[2] for line in tailed] == [
        "Workspace.Created",
        "Workspace.PatchApplied",  # the initial files
        "Workspace.PatchApplied",  # the edit
    ], tailed
