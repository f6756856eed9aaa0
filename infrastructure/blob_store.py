"""Content-addressed file contents in PostgreSQL, zlib-compressed when that pays.

Blobs are written by `PostgresEventStore.append` in the events' own transaction (so
an event never refers to a blob that is not there); this module reads them back and
checks each against its hash, so a damaged row is an error rather than wrong code.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Mapping
from typing import Final

import asyncpg

#: Compressed data is kept only if it is at most this fraction of the original.
_WORTH_IT: Final = 0.9
#: Contents up to this size are stored as they are; compressing them gains nothing.
_SMALL: Final = 64


def insert_blobs_sql(first_parameter: int) -> str:
    """INSERT of the `blob_columns` arrays, passed from parameter `first_parameter` on."""
    n = first_parameter
    return (
        "INSERT INTO vibehq_blobs (sha256, size, encoding, data) "
        f"SELECT * FROM unnest(${n}::bytea[], ${n + 1}::bigint[], ${n + 2}::text[], "
        f"${n + 3}::bytea[]) ON CONFLICT (sha256) DO NOTHING"
    )


class BlobMissing(LookupError):
    pass


class BlobCorrupted(ValueError):
    pass


def blob_columns(
    blobs: Mapping[str, bytes],
) -> tuple[list[bytes], list[int], list[str], list[bytes]]:
    """The arrays `insert_blobs_sql` takes: hash, size, encoding, data."""
    hashes, sizes, encodings, datas = [], [], [], []
    for sha, content in sorted(blobs.items()):  # sorted: concurrent inserts lock in one order
        packed = zlib.compress(content, 6) if len(content) > _SMALL else content
        compressed = len(content) > _SMALL and len(packed) <= len(content) * _WORTH_IT
        hashes.append(bytes.fromhex(sha))
        sizes.append(len(content))
        encodings.append("zlib" if compressed else "raw")
        datas.append(packed if compressed else content)
    return hashes, sizes, encodings, datas


class PostgresBlobStore:
    """Implements `application.ports.BlobStore`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get_many(self, hashes: Iterable[str]) -> dict[str, bytes]:
        wanted = sorted(set(hashes))
        if not wanted:
            return {}
        rows = await self._pool.fetch(
            "SELECT sha256, encoding, data FROM vibehq_blobs WHERE sha256 = ANY($1::bytea[])",
            [bytes.fromhex(sha) for sha in wanted],
        )
        found: dict[str, bytes] = {}
        for row in rows:
            sha = row["sha256"].hex()
            content = zlib.decompress(row["data"]) if row["encoding"] == "zlib" else row["data"]
            if hashlib.sha256(content).hexdigest() != sha:
                raise BlobCorrupted(f"blob {sha} does not match its hash")
            found[sha] = content
        missing = [sha for sha in wanted if sha not in found]
        if missing:
            raise BlobMissing(f"blobs not stored: {', '.join(missing[:5])}")
        return found
