"""Deterministic crash points for the crash tests, off unless asked for.

`VIBEHQ_CRASH_AT=relay.after-publish:3` makes the process die (as SIGKILL would:
no cleanup, no flush) the third time it passes that point. Production never sets it;
the check is one dict lookup.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Final

_PLAN: Final = os.environ.get("VIBEHQ_CRASH_AT", "")
_passes: Counter[str] = Counter()


def crash_point(name: str) -> None:
    if not _PLAN:
        return
    point, _, count = _PLAN.rpartition(":")
    if point != name:
        return
    _passes[name] += 1
    if _passes[name] >= int(count or 1):
        os._exit(137)
