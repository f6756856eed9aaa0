"""What each process does when a secret changes anywhere, as its events go past on
NATS (the relay publishes them within milliseconds of the commit).

- Masks: an HTTP worker that publishes an agent's terminal output may never have seen
  the secret another worker stored a minute ago. So each process opens every version
  that can still be opened when it starts, and again on each new version (reloads
  coalesce: infrastructure/fanout/reloads.py).
- Leases: a value kept under a lease (application/secret_leases.py) is dropped when
  its grant is revoked, a new version is added or the secret is shredded.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final
from uuid import UUID

import msgspec
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from application.event_codec import EventCodec
from domain.contracts import EventEnvelope
from domain.secrets import Secret
from infrastructure.fanout.reloads import Reloads
from infrastructure.fanout.subjects import Subjects

log = logging.getLogger(__name__)


_CODEC: Final = EventCodec()
#: Leases of versions before this one (None: of every version) are wrong now.
DropLeases = Callable[[UUID, int | None], object]


class SecretWatch:
    def __init__(
        self,
        load: Callable[[], Awaitable[int]],
        drop: DropLeases = lambda secret_id, before: None,
    ) -> None:
        self._load = load
        self._drop = drop
        self._reloads = Reloads(load, "new secret versions to mask")
        self._subscription: Subscription | None = None

    async def start(self, client: NatsClient, subjects: Subjects) -> None:
        """Follow new versions, then mask what exists now (in that order, so a version
        stored in between is not missed). A failure to load (a master key missing from
        the ring, say) is logged and does not stop the process."""
        self._reloads.start()
        self._subscription = await client.subscribe(
            subjects.events(aggregate="secret"), cb=self._seen
        )
        try:
            added = await self._load()
        except Exception:
            log.exception("could not open the stored secrets to mask them")
        else:
            if added:
                log.debug("masking %d secret value(s) in this process's output", added)

    async def _seen(self, message: Msg) -> None:
        kind = message.subject.rpartition(".")[2]
        if kind not in ("VersionAdded", "GrantRevoked", "Shredded"):
            return  # the many releases and leases change nothing here
        try:
            event = _CODEC.decode_envelope(msgspec.json.decode(message.data, type=EventEnvelope))
        except (msgspec.DecodeError, msgspec.ValidationError, LookupError):
            log.warning("an undecodable secret event on %s", message.subject)
            return
        if isinstance(event, Secret.VersionAdded):
            self._drop(event.originator_id, event.version)
            self._reloads.want()
        elif isinstance(event, Secret.GrantRevoked | Secret.Shredded):
            self._drop(event.originator_id, None)

    async def stop(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
        await self._reloads.stop()
