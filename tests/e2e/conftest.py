"""What the e2e tests share: `vibehq serve` on the test database, as a fixture."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from infrastructure.embedded.engines import Engines
from tests.conftest import ROOT
from tests.e2e.otlp import Receiver
from tests.e2e.test_service import serving


@pytest.fixture
def served(engines: Engines, database_url: str) -> Iterator[str]:
    env = {**os.environ, "VIBEHQ_DATABASE_URL": database_url, "VIBEHQ_NATS_URL": engines.nats_url}
    with serving(env, ROOT) as base:
        yield base


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
