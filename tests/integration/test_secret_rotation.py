"""Master key rotation without downtime: data keys are re-wrapped while readers keep
opening values, and an old master key is retired only once nothing uses it."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest

from domain.secrets import secret_stream_id
from infrastructure.secrets.keys import LocalKeyRing, MasterKeyError, add_master_key, read_ring
from infrastructure.secrets.rewrap import key_usage, retirable, rewrap
from infrastructure.secrets.vault import PostgresVault

pytestmark = pytest.mark.timeout(120)

KEYS = 10_000  # the soak figure: about 5 s here


async def test_rewrap_under_reads_fails_no_read_and_then_retires_the_old_key(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    ring_path = tmp_path / "master-keys"
    add_master_key(ring_path)
    serving = PostgresVault(pool, LocalKeyRing(read_ring(ring_path), ring_path))
    sealed = []
    for n in range(KEYS):
        secret_id = secret_stream_id(f"s-{uuid4().hex}")
        value = f"value-{n}-{uuid4().hex}".encode()
        sealed.append((secret_id, value, await serving.seal(secret_id, 1, "s", value)))
    reads, failures = 0, 0
    stop = asyncio.Event()

    async def reader() -> None:
        nonlocal reads, failures
        while not stop.is_set():
            secret_id, value, box = random.choice(sealed)
            try:
                assert await serving.open(secret_id, 1, "s", box) == value
                reads += 1
            except Exception:  # noqa: BLE001 - counted: none may fail
                failures += 1

    readers = [asyncio.create_task(reader()) for _ in range(4)]
    assert ring_path.stat().st_mode & 0o777 == 0o600
    new_version = add_master_key(ring_path)  # `vibehq master-key rotate`, elsewhere
    with pytest.raises(MasterKeyError, match="still wrapped by master key version 1"):
        await retirable(pool, 1)
    before = reads
    moved = await rewrap(pool, LocalKeyRing(read_ring(ring_path), ring_path), batch=200)
    during = reads - before
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*readers)
    assert (new_version, moved) == (2, KEYS)
    assert failures == 0
    assert during >= 100  # the readers were at it all through the rewrap
    assert await key_usage(pool) == {2: KEYS}
    await retirable(pool, 1)  # nothing uses it now
    assert await rewrap(pool, LocalKeyRing(read_ring(ring_path), ring_path)) == 0
