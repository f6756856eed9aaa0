"""The suite runs the same whatever VIBEHQ_* settings the developer's shell exports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from infrastructure.settings import Settings, load_settings
from tests.conftest import PASSED_THROUGH, ROOT


def test_settings_under_test_are_the_defaults() -> None:
    leaked = [n for n in os.environ if n.startswith("VIBEHQ_") and n not in PASSED_THROUGH]
    assert leaked == []
    assert load_settings().data_dir == Settings().data_dir


def test_the_shells_settings_do_not_reach_the_tests(tmp_path: Path) -> None:
    shell = {
        **os.environ,
        "VIBEHQ_DATA_DIR": str(tmp_path / "my-daily-data"),
        "VIBEHQ_MAX_EVENT_BYTES": "1",
    }
    inner = f"{Path(__file__).relative_to(ROOT)}::test_settings_under_test_are_the_defaults"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-cov", inner],
        cwd=ROOT,
        env=shell,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
