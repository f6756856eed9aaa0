"""JetStream stream configuration, created or updated idempotently at start-up."""

from __future__ import annotations

import logging
from typing import Final

from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from infrastructure.fanout.subjects import Subjects

log = logging.getLogger(__name__)

#: How long JetStream remembers a Nats-Msg-Id to drop a redelivered duplicate.
DUPLICATE_WINDOW: Final = 10 * 60.0
EVENTS_MAX_AGE: Final = 7 * 24 * 3600.0
TERMINAL_MAX_AGE: Final = 24 * 3600.0


def stream_configs(subjects: Subjects) -> list[StreamConfig]:
    return [
        StreamConfig(
            name=subjects.events_stream,
            description="Core Vibe HQ events, published by the outbox relay",
            subjects=subjects.events_filters,
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=EVENTS_MAX_AGE,
            duplicate_window=DUPLICATE_WINDOW,
        ),
        StreamConfig(
            name=subjects.terminal_stream,
            description="Terminal output of agent sessions",
            subjects=subjects.terminal_filters,
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=TERMINAL_MAX_AGE,
            duplicate_window=DUPLICATE_WINDOW,
        ),
    ]


async def ensure_streams(js: JetStreamContext, subjects: Subjects) -> None:
    """Create our streams, or bring an existing one's configuration up to date."""
    for config in stream_configs(subjects):
        assert config.name is not None
        try:
            await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
            log.info("created JetStream stream %s", config.name)
        else:
            await js.update_stream(config)
