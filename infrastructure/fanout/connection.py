"""Connecting to NATS: one server or a cluster's list, reconnecting for as long as it
takes, and one log line per outage instead of a traceback per attempt.

`VIBEHQ_NATS_URL` may list several servers, comma-separated; any one that answers
will do for the first connection, and the client moves to another on failure (the
cluster also tells it about servers the list does not name).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient

log = logging.getLogger(__name__)

#: The longest pause between two tries in `patiently`.
MAX_PAUSE: Final = 0.25


def nats_servers(nats_url: str) -> list[str]:
    """The URLs in a comma-separated list (one URL is a list of one)."""
    return [url.strip() for url in nats_url.split(",") if url.strip()]


def server_name(url: Any) -> str:
    """`host:port` of a server URL nats-py holds (a parsed URL whose user info may hold
    a token or password: never printed)."""
    if url is None:
        return "?"
    return f"{url.hostname}:{url.port}" if getattr(url, "hostname", None) else "?"


class _Outages:
    """Says when the connection goes and when it comes back, once each."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._since: float | None = None
        self.client: NatsClient | None = None

    async def disconnected(self) -> None:
        client = self.client
        if client is not None and (client.is_closed or client.is_draining):
            return  # we are closing it: not an outage
        if self._since is None:
            self._since = time.monotonic()
            log.warning("%s: lost NATS; reconnecting (writes go on, feeds wait)", self._name)

    async def reconnected(self) -> None:
        server = server_name(self.client.connected_url) if self.client else "?"
        lasted = time.monotonic() - self._since if self._since is not None else 0.0
        self._since = None
        log.info("%s: NATS back at %s after %.1fs", self._name, server, lasted)

    async def error(self, error: Exception) -> None:
        log.debug("%s: NATS: %s", self._name, error)


async def connect_nats(nats_url: str, *, name: str, **options: Any) -> NatsClient:
    """A client that reconnects forever, to any server of the list."""
    outages = _Outages(name)
    client = await nats.connect(
        nats_servers(nats_url),
        name=name,
        connect_timeout=2,
        reconnect_time_wait=1,
        max_reconnect_attempts=-1,  # never give up: NATS is a fan-out, not optional
        disconnected_cb=outages.disconnected,
        reconnected_cb=outages.reconnected,
        error_cb=outages.error,
        **options,
    )
    outages.client = client
    return client


#: What a cluster says while it elects a leader or the client moves to another server.
PASSING: Final = (
    nats.errors.NoRespondersError,
    nats.errors.TimeoutError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.js.errors.ServiceUnavailableError,
    TimeoutError,
)


T = TypeVar("T")


async def patiently(operation: Callable[[], Awaitable[T]], *, within: float) -> T:
    """`operation()`, tried again (briefly apart) while NATS says something that
    passes, for up to `within` seconds; then its error is raised."""
    deadline = asyncio.get_running_loop().time() + within
    pause = 0.05
    while True:
        try:
            return await operation()
        except PASSING:
            if asyncio.get_running_loop().time() + pause > deadline:
                raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE)
