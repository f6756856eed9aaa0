"""Envelope encryption of secret values, and the shreddable table of data keys.

Each version gets a fresh 256-bit data key. The value is sealed with AES-GCM under it,
with associated data binding the ciphertext to (secret, version, name, key id): moved
to another secret or version, it does not open. The data key is wrapped by the
current master key (`KeyWrap`) and stored in `vibehq_secret_keys`, never in the log.
Shredding deletes a secret's rows; its ciphertext in the log is then noise.
"""

from __future__ import annotations

import os
from typing import NamedTuple
from uuid import UUID

import asyncpg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from application.ports import KeyGone, SealedValue
from domain.ids import new_id
from infrastructure.secrets.keys import NONCE_BYTES, KeyWrap


def value_aad(secret_id: UUID, version: int, name: str, key_id: UUID) -> bytes:
    return f"vibehq-secret/v1\x00{secret_id}\x00{version}\x00{name}\x00{key_id}".encode()


def key_aad(secret_id: UUID, key_id: UUID) -> bytes:
    return f"vibehq-data-key/v1\x00{secret_id}\x00{key_id}".encode()


class Envelope(NamedTuple):
    """A sealed value and its data key wrapped by a master key version."""

    sealed: SealedValue
    kek_version: int
    wrapped: bytes


def seal_value(keys: KeyWrap, secret_id: UUID, version: int, name: str, value: bytes) -> Envelope:
    """Seal `value` under a fresh data key, wrapped by the current master key."""
    key_id = new_id()
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, value, value_aad(secret_id, version, name, key_id))
    kek_version, wrapped = keys.wrap(data_key, key_aad(secret_id, key_id))
    return Envelope(
        SealedValue(key_id=key_id, ciphertext=ciphertext, nonce=nonce), kek_version, wrapped
    )


def open_value(
    keys: KeyWrap,
    secret_id: UUID,
    version: int,
    name: str,
    sealed: SealedValue,
    kek_version: int,
    wrapped: bytes,
) -> bytes:
    """The value; raises InvalidTag when anything it was bound to differs."""
    data_key = keys.unwrap(kek_version, wrapped, key_aad(secret_id, sealed.key_id))
    return AESGCM(data_key).decrypt(
        sealed.nonce, sealed.ciphertext, value_aad(secret_id, version, name, sealed.key_id)
    )


class PostgresVault:
    """Implements `application.ports.SecretVault` over asyncpg and a `KeyWrap`."""

    def __init__(self, pool: asyncpg.Pool, keys: KeyWrap) -> None:
        self._pool = pool
        self._keys = keys

    def fingerprint(self, value: bytes) -> str:
        return self._keys.fingerprint(value)

    async def seal(self, secret_id: UUID, version: int, name: str, value: bytes) -> SealedValue:
        envelope = seal_value(self._keys, secret_id, version, name, value)
        # Stored before the version is recorded: a failed append leaves an unused row,
        # never a recorded version without its key.
        await self._pool.execute(
            "INSERT INTO vibehq_secret_keys (key_id, secret_id, kek_version, wrapped) "
            "VALUES ($1, $2, $3, $4)",
            envelope.sealed.key_id,
            secret_id,
            envelope.kek_version,
            envelope.wrapped,
        )
        return envelope.sealed

    async def open(self, secret_id: UUID, version: int, name: str, sealed: SealedValue) -> bytes:
        row = await self._pool.fetchrow(
            "SELECT kek_version, wrapped FROM vibehq_secret_keys WHERE key_id = $1",
            sealed.key_id,
        )
        if row is None:
            raise KeyGone(name)
        return open_value(
            self._keys, secret_id, version, name, sealed, row["kek_version"], row["wrapped"]
        )

    async def keyed(self) -> dict[UUID, set[UUID]]:
        keyed: dict[UUID, set[UUID]] = {}
        for row in await self._pool.fetch("SELECT secret_id, key_id FROM vibehq_secret_keys"):
            keyed.setdefault(row["secret_id"], set()).add(row["key_id"])
        return keyed

    async def shred(self, secret_id: UUID) -> int:
        deleted: str = await self._pool.execute(
            "DELETE FROM vibehq_secret_keys WHERE secret_id = $1", secret_id
        )
        return int(deleted.split()[-1])
