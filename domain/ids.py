"""New ids: time-ordered UUIDs (version 7, RFC 9562), so new rows go to the end of an index.

Patch ids (which are also their outcome events' ids), every other event id and secret
key ids are made here. Each sits in a B-tree: the event id index holds one per event.
A random (version 4) id lands on a random leaf page of a 5-million-row index: after
every checkpoint that page is written to the WAL whole, and on a cold cache read from
disk first. An id that starts with the time lands where the last one did, at the
index's right edge, so the cost of a write stays flat as the log grows
(docs/scaling.md, docs/benchmarks.md).

Ids that people read and type by their first 8 characters stay random (`uuid4`):
workspaces, tokens, ops-event and heartbeat streams. The CLI prints and accepts those
short ids (docs/http.md), and version 7 ids made within a minute of each other share
their first 8 characters. A workspace's events go next to its earlier ones in the
stream key whatever its id, so only its first event lands on a random leaf there.

Layout: 48 bits of Unix milliseconds, the version, 12 bits of the sub-millisecond
time (RFC 9562 method 3), the variant, 62 random bits. One tick of those 12 bits is
244 ns and a call takes longer (about 2 us here), so ids made one after the other in
a process sort in order while the clock does not step back. Ids from two processes
sort by their millisecond; nothing may rely on more order than that.

What an id now tells its reader: when it was made, to the millisecond, which the
event's `recorded_at` says anyway. Ids made in one millisecond still differ in 62
random bits, so one cannot be guessed from another. Ids are names, never credentials:
access is checked on every read.

Python 3.14 has `uuid.uuid7`; this is its shape, for every version we support.
"""

from __future__ import annotations

import os
import time
from uuid import UUID

_NS_PER_MS = 1_000_000


def new_id() -> UUID:
    """A new version 7 UUID: time-ordered, with 62 random bits."""
    milliseconds, rest = divmod(time.time_ns(), _NS_PER_MS)
    fraction = rest * 4096 // _NS_PER_MS  # the next 12 bits of the time
    random_bits = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (
        (milliseconds & ((1 << 48) - 1)) << 80
        | 0x7 << 76
        | fraction << 64
        | 0b10 << 62
        | random_bits
    )
    return UUID(int=value)
