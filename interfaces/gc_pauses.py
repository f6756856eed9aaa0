"""Keep full garbage collections short in the long-running server processes.

CPython's full (generation 2) collection walks every container object the process
holds. After startup a worker holds a great many that live as long as it does: modules,
Litestar's routes and signature models, the runtime's adapters and caches. Under the
HTTP load a full collection came about once in 10-20 s per worker and stalled it for
55-130 ms, every request on that worker waiting (measured with `gc.callbacks`, 32
factories, 2 workers). `gc.freeze()` moves what exists after startup into a permanent
generation that collections skip; the same full collections then took 1-6 ms. Objects
made later are collected as before; what is frozen lives as long as the process anyway.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("vibehq.gc")


def freeze_startup_objects() -> int:
    """Collect the startup garbage, then exempt what is left from every later collection.

    Returns how many objects are frozen. Call once the process holds its long-lived
    objects (after the runtime is open), before it serves.
    """
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("froze %d startup objects out of garbage collection", frozen)
    return frozen
