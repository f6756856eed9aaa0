"""Envelope encryption of secret values, and the shreddable table of data keys.

Each version gets a fresh 256-bit data key. The value is sealed with AES-GCM under it,
with associated data binding the ciphertext to (secret, version, name, key id): moved
to another secret or version, it does not open. The data key is wrapped by the
current master key (`KeyWrap`) and stored in `vibehq_secret_keys`, never in the log.
Shredding deletes a secret's rows; its ciphertext in the log is then noise.
"""

from __future__ import annotations

import os
from uuid import UUID, uuid4

import asyncpg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from application.ports import KeyGone, SealedValue
from infrastructure.secrets.keys import NONCE_BYTES, KeyWrap


def value_aad(secret_id: UUID, version: int, name: str, key_id: UUID) -> bytes:
    return f"vibehq-secret/v1\x00{secret_id}\x00{version}\x00{name}\x00{key_id}".encode()


def key_aad(secret_id: UUID, key_id: UUID) -> bytes:
    return f"vibehq-data-key/v1\x00{secret_id}\x00{key_id}".encode()


class PostgresVault:
    """Implements `application.ports.SecretVault` over asyncpg and a `KeyWrap`."""

    def __init__(self, pool: asyncpg.Pool, keys: KeyWrap) -> None:
        self._pool = pool
        self._keys = keys

    def fingerprint(self, value: bytes) -> str:
        return self._keys.fingerprint(value)

    async def seal(self, secret_id: UUID, version: int, name: str, value: bytes) -> SealedValue:
        key_id = uuid4()
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(data_key).encrypt(
            nonce, value, value_aad(secret_id, version, name, key_id)
        )
        kek_version, wrapped = self._keys.wrap(data_key, key_aad(secret_id, key_id))
        # Stored before the version is recorded: a failed append leaves an unused row,
        # never a recorded version without its key.
        await self._pool.execute(
            "INSERT INTO vibehq_secret_keys (key_id, secret_id, kek_version, wrapped) "
            "VALUES ($1, $2, $3, $4)",
            key_id,
            secret_id,
            kek_version,
            wrapped,
        )
        return SealedValue(key_id=key_id, ciphertext=ciphertext, nonce=nonce)

    async def open(self, secret_id: UUID, version: int, name: str, sealed: SealedValue) -> bytes:
        row = await self._pool.fetchrow(
            "SELECT kek_version, wrapped FROM vibehq_secret_keys WHERE key_id = $1",
            sealed.key_id,
        )
        if row is None:
            raise KeyGone(name)
        data_key = self._keys.unwrap(
            row["kek_version"], row["wrapped"], key_aad(secret_id, sealed.key_id)
        )
        return AESGCM(data_key).decrypt(
            sealed.nonce, sealed.ciphertext, value_aad(secret_id, version, name, sealed.key_id)
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
