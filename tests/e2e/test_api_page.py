"""`/schema` in a real browser: Swagger UI from our own assets, offline, under a CSP."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from interfaces.http.docs_page import ASSETS

pytestmark = pytest.mark.timeout(120)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NO_CHROMIUM = "chromium is not installed (.ci/dev installs it when run as root)"


def test_the_vendored_assets_are_the_pinned_ones(served: str) -> None:
    pinned = (ASSETS / "swagger-ui" / "SHA256SUMS").read_text().split("\n")
    for line in filter(None, pinned):
        digest, name = line.split()
        served_bytes = httpx.get(f"{served}/schema/assets/swagger-ui/{name}").content
        assert hashlib.sha256(served_bytes).hexdigest() == digest, name
    page = httpx.get(f"{served}/schema")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.replace('name="viewport"', "")  # no other origin


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (.ci/dev installs it as root)"
)
def test_the_api_page_renders_every_route_with_no_other_origin(served: str, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # tests may run as root, where Chromium's sandbox refuses
            "--disable-gpu",
            f"--user-data-dir={tmp_path}",
            # Every other host unreachable: the page must need nothing from the internet.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000",
            "--dump-dom",
            f"{served}/schema",
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Core Vibe HQ" in dom.stdout, dom.stdout[-2000:]
    for route in ("/workspaces/{workspace_id}/patches", "/ops/incidents", "/ready"):
        assert route in dom.stdout, route
