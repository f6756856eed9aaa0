"""PostgreSQL away: 503 with `Retry-After`, and one log line per outage.

The pool reconnects by itself once the server is back, so a request that meets a
lost connection is answered "try again shortly" instead of with a traceback, and the
log says once that the database is gone rather than once per request.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

import asyncpg
from litestar import Request, Response

from domain.contracts import Problem
from interfaces.http.problems import problem

log = logging.getLogger(__name__)

#: What a client is told to wait, in seconds.
RETRY_AFTER: Final = 2
#: An error after this many quiet seconds starts a new outage (and a new log line).
QUIET_FOR: Final = 10.0


class OutageLog:
    """Logs the first error of each outage, and counts the rest."""

    def __init__(self) -> None:
        self._last = float("-inf")
        self.outages = 0
        self.answered = 0

    def seen(self, error: BaseException) -> None:
        now = time.monotonic()
        if now - self._last > QUIET_FOR:
            self.outages += 1
            log.error(
                "PostgreSQL is unavailable (%s: %s); answering 503 with Retry-After until "
                "it is back",
                type(error).__name__,
                error,
            )
        self._last = now
        self.answered += 1


OUTAGES: Final = OutageLog()


def unavailable(request: Request[Any, Any, Any], error: Exception) -> Response[Problem]:
    OUTAGES.seen(error)
    what = (
        "PostgreSQL"
        if isinstance(error, asyncpg.PostgresError | asyncpg.InterfaceError)
        else ("a dependency")
    )
    return problem(
        request,
        503,
        "unavailable",
        "Service unavailable",
        f"{what} is unavailable for a moment; retry after Retry-After seconds with the same "
        "Idempotency-Key (a write that did commit is answered, not repeated)",
        headers={"Retry-After": str(RETRY_AFTER)},
    )
