"""An outage said once: one warning when a dependency goes away, one line when it is
back, and debug lines between, however often the work is retried meanwhile.

The partition keeper, every log follower and the NATS-driven reloads share it, so an
operator reads the same two lines from each, whichever part lost its connection.
"""

from __future__ import annotations

import logging
import time


class Outage:
    def __init__(self, what: str, log: logging.Logger) -> None:
        self._what = what
        self._log = log
        self._since: float | None = None  # when it began; None: no outage

    def failed(self, error: BaseException, retry: float, *, trace: bool = False) -> None:
        """The work failed and will be tried again in `retry` seconds; with `trace`,
        the first warning carries the traceback (for errors that may be bugs)."""
        said = str(error) or type(error).__name__
        if self._since is None:
            self._since = time.monotonic()
            self._log.warning(
                "%s: %s; retrying every %gs",
                self._what,
                said,
                retry,
                exc_info=error if trace else None,
            )
        else:
            self._log.debug("%s: still failing: %s", self._what, said)

    def over(self) -> None:
        """The work succeeded: if it had been failing, say it is back and for how long."""
        if self._since is not None:
            lasted = time.monotonic() - self._since
            self._since = None
            self._log.info("%s: back after %.1fs", self._what, lasted)
