"""Moving data keys to the current master key, and retiring old master keys.

`rewrap` unwraps each data key still wrapped by an older master key and wraps it
with the current one, in batches, each row swapped only if it is still on the version
it was read at (compare and set), so two rewraps, or a shred, never collide. No
value is re-encrypted and no event rewritten. Reads go on throughout: every row names
the master key version that wraps it, and the key ring knows both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import asyncpg

from infrastructure.secrets.keys import LocalKeyRing, MasterKeyError
from infrastructure.secrets.vault import key_aad

BATCH: Final = 500


async def key_usage(pool: asyncpg.Pool) -> dict[int, int]:
    """Data keys per master key version."""
    rows = await pool.fetch(
        "SELECT kek_version, count(*) AS keys FROM vibehq_secret_keys GROUP BY 1 ORDER BY 1"
    )
    return {row["kek_version"]: row["keys"] for row in rows}


async def rewrap(
    pool: asyncpg.Pool,
    ring: LocalKeyRing,
    *,
    batch: int = BATCH,
    progress: Callable[[int], object] | None = None,
) -> int:
    """Re-wrap every data key not on the current master key; how many were moved."""
    current = ring.current
    moved = 0
    while True:
        rows = await pool.fetch(
            "SELECT key_id, secret_id, kek_version, wrapped FROM vibehq_secret_keys "
            "WHERE kek_version < $1 LIMIT $2",
            current,
            batch,
        )
        if not rows:
            return moved
        updates = []
        for row in rows:
            aad = key_aad(row["secret_id"], row["key_id"])
            data_key = ring.unwrap(row["kek_version"], row["wrapped"], aad)
            version, wrapped = ring.wrap(data_key, aad)
            updates.append((row["key_id"], row["kek_version"], version, wrapped))
        await pool.executemany(
            "UPDATE vibehq_secret_keys SET kek_version = $3, wrapped = $4 "
            "WHERE key_id = $1 AND kek_version = $2",
            updates,
        )
        moved += len(updates)
        if progress is not None:
            progress(moved)


async def retirable(pool: asyncpg.Pool, version: int) -> None:
    """Refuse (MasterKeyError) while any data key is still wrapped by `version`."""
    still = await pool.fetchval(
        "SELECT count(*) FROM vibehq_secret_keys WHERE kek_version = $1", version
    )
    if still:
        raise MasterKeyError(
            f"{still} data key(s) are still wrapped by master key version {version}; "
            "run `vibehq master-key rewrap` first"
        )
