"""A passing outage is said once: one warning when it starts, one line when it ends."""

from __future__ import annotations

import asyncio
import logging

import pytest

from infrastructure.fanout import reloads
from infrastructure.fanout.reloads import Reloads
from infrastructure.outage import Outage


def test_an_outage_is_warned_of_once_and_its_end_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outage = Outage("relay", logging.getLogger("test.outage"))
    with caplog.at_level(logging.INFO, logger="test.outage"):
        for _ in range(3):
            outage.failed(ConnectionRefusedError("connection refused"), 1.0)
        outage.over()
        outage.over()  # no outage: nothing to say
        outage.failed(TimeoutError(), 1.0)  # a new one is said again, named by its type

    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert said[0] == ("WARNING", "relay: connection refused; retrying every 1s")
    assert said[1][0] == "INFO"
    assert said[1][1].startswith("relay: back after ")
    assert said[2] == ("WARNING", "relay: TimeoutError; retrying every 1s")
    assert len(said) == 3


async def test_a_reload_that_fails_is_retried_until_it_loads_and_said_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reloads, "RETRY", 0.01)
    loaded = asyncio.Event()
    calls = 0

    async def load() -> None:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise ConnectionResetError("secret store unreachable")
        loaded.set()

    reload = Reloads(load, "the limit policies")
    with caplog.at_level(logging.INFO, logger="infrastructure.fanout.reloads"):
        reload.start()
        reload.want()
        await asyncio.wait_for(loaded.wait(), 5)
        await reload.stop()

    assert calls == 4
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "reload the limit policies: secret store unreachable; retrying every 0.01s"
    ]
    assert warnings[0].exc_info is not None  # a reload's failure may be a bug: traced
    assert [r.getMessage()[:40] for r in caplog.records if r.levelno == logging.INFO] == [
        "reload the limit policies: back after 0."
    ]
