"""Connecting to NATS: one server or a cluster's list, reconnecting for as long as it
takes, and one log line per outage instead of a traceback per attempt.

`VIBEHQ_NATS_URL` may list several servers, comma-separated; any one that answers
will do for the first connection, and the client moves to another on failure (the
cluster also tells it about servers the list does not name).

Credentials: a URL may carry `user:password@` or `token@`; `NatsAccess` adds a token,
an NKey seed or a `.creds` file (JWT + NKey, as `nsc` writes it) and TLS (a CA to
trust, a client certificate for mutual TLS), from the `VIBEHQ_NATS_*` settings.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import nats
import nats.errors
import nats.js.errors
from msgspec import Struct
from nats.aio.client import Client as NatsClient

from infrastructure.settings import Settings

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


class NatsAccessError(ValueError):
    """A NATS credential setting names a file that cannot be used; one line."""


class NatsAccess(Struct, frozen=True):
    """What proves who we are to NATS besides the URL; each a setting (docs/scaling.md)."""

    token: str | None = None
    creds: str | None = None
    nkey: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    def options(self) -> dict[str, Any]:
        """Keyword arguments for `nats.connect`; raises NatsAccessError naming the
        variable when a file is missing or unusable."""
        options: dict[str, Any] = {}
        if self.token:
            options["token"] = self.token
        if self.creds:
            options["user_credentials"] = _readable(self.creds, "VIBEHQ_NATS_CREDS")
        if self.nkey:
            options["nkeys_seed"] = _readable(self.nkey, "VIBEHQ_NATS_NKEY")
        if self.tls_ca or self.tls_cert or self.tls_key:
            options["tls"] = self._tls()
        return options

    def _tls(self) -> ssl.SSLContext:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise NatsAccessError(
                "VIBEHQ_NATS_TLS_CERT and VIBEHQ_NATS_TLS_KEY go together: set both or neither"
            )
        ca = _readable(self.tls_ca, "VIBEHQ_NATS_TLS_CA") if self.tls_ca else None
        try:
            context = ssl.create_default_context(cafile=ca)
        except ssl.SSLError as error:
            raise NatsAccessError(f"VIBEHQ_NATS_TLS_CA={ca}: not a CA bundle ({error})") from None
        if self.tls_cert and self.tls_key:
            cert = _readable(self.tls_cert, "VIBEHQ_NATS_TLS_CERT")
            key = _readable(self.tls_key, "VIBEHQ_NATS_TLS_KEY")
            try:
                context.load_cert_chain(cert, key)
            except ssl.SSLError as error:
                raise NatsAccessError(
                    f"VIBEHQ_NATS_TLS_CERT/KEY: not a certificate and its key ({error})"
                ) from None
        return context


def nats_access(settings: Settings) -> NatsAccess:
    return NatsAccess(
        token=settings.nats_token,
        creds=settings.nats_creds,
        nkey=settings.nats_nkey,
        tls_ca=settings.nats_tls_ca,
        tls_cert=settings.nats_tls_cert,
        tls_key=settings.nats_tls_key,
    )


def _readable(path: str, variable: str) -> str:
    try:
        with open(path, "rb"):
            return path
    except OSError as error:
        raise NatsAccessError(f"{variable}={path}: {error.strerror or error}") from None


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


async def connect_nats(
    nats_url: str, *, name: str, access: NatsAccess | None = None, **options: Any
) -> NatsClient:
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
        **(access or NatsAccess()).options(),
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
