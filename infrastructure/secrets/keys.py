"""Master keys: what wraps the secrets' data keys, kept outside the database.

`VIBEHQ_MASTER_KEY` holds the 32-byte key (base64), as version 1; unset, a key ring
is created once in the data folder (`master-keys`, mode 0600: one `version:base64`
line per key, the last one current). `KeyWrap` is the port a KMS or Vault-transit
adapter would implement instead of `LocalKeyRing`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from pathlib import Path
from typing import Final, Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from infrastructure.settings import Settings, data_folder

KEY_FILE: Final = "master-keys"
NONCE_BYTES: Final = 12


class MasterKeyError(ValueError):
    """A master key cannot be used; str() says which and why, in one line."""


class KeyWrap(Protocol):
    """Wraps and unwraps data keys with a versioned master key."""

    @property
    def current(self) -> int: ...

    def wrap(self, key: bytes, aad: bytes) -> tuple[int, bytes]:
        """(master key version, wrapped key) under the current master key."""
        ...

    def unwrap(self, version: int, wrapped: bytes, aad: bytes) -> bytes: ...

    def fingerprint(self, value: bytes) -> str:
        """A keyed fingerprint of a value: equal values match, nobody can reverse it."""
        ...


class LocalKeyRing:
    """Master keys held by this process (from the environment or the data folder).

    Loaded from a ring file, it reads the file again when asked for a version it does
    not know: another process rotated the key and re-wrapped data keys, and reads go on.
    """

    def __init__(self, keys: dict[int, bytes], path: Path | None = None) -> None:
        if not keys:
            raise MasterKeyError("no master key")
        self._keys = dict(keys)
        self._path = path
        # Fingerprints stay comparable across rotations: keyed by the first master key.
        first = self._keys[min(self._keys)]
        self._fingerprint_key = hmac.new(first, b"vibehq secret fingerprint", "sha256").digest()

    @property
    def current(self) -> int:
        return max(self._keys)

    @property
    def versions(self) -> list[int]:
        return sorted(self._keys)

    def wrap(self, key: bytes, aad: bytes) -> tuple[int, bytes]:
        version = self.current
        nonce = os.urandom(NONCE_BYTES)
        return version, nonce + AESGCM(self._keys[version]).encrypt(nonce, key, aad)

    def unwrap(self, version: int, wrapped: bytes, aad: bytes) -> bytes:
        master = self._keys.get(version)
        if master is None and self._path is not None:
            self._keys.update(read_ring(self._path))  # rotated meanwhile, elsewhere
            master = self._keys.get(version)
        if master is None:
            raise MasterKeyError(f"master key version {version} is not in the key ring")
        return AESGCM(master).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)

    def fingerprint(self, value: bytes) -> str:
        return hmac.new(self._fingerprint_key, value, hashlib.sha256).hexdigest()[:32]


def key_ring(settings: Settings) -> LocalKeyRing:
    """The settings' master key, or the data folder's ring (made on first use)."""
    if settings.master_key:
        return LocalKeyRing(_from_setting(settings.master_key))
    path = ring_file(settings)
    if not path.exists():
        add_master_key(path)
    return LocalKeyRing(read_ring(path), path)


def ring_file(settings: Settings) -> Path:
    return data_folder(settings) / KEY_FILE


def _from_setting(value: str) -> dict[int, bytes]:
    """`KEY` (version 1), or `1:KEY,2:KEY` for a ring given in the environment."""
    if ":" not in value:
        return {1: _decode(value, "VIBEHQ_MASTER_KEY")}
    keys: dict[int, bytes] = {}
    for part in value.split(","):
        version, _, encoded = part.partition(":")
        if not version.strip().isdigit():
            raise MasterKeyError("VIBEHQ_MASTER_KEY entries must be VERSION:BASE64")
        keys[int(version)] = _decode(encoded.strip(), f"VIBEHQ_MASTER_KEY version {version}")
    return keys


def remove_master_key(path: Path, version: int) -> None:
    """Drop a version from the ring file (the caller checked nothing uses it)."""
    keys = read_ring(path)
    if version not in keys:
        raise MasterKeyError(f"master key version {version} is not in {path}")
    if version == max(keys):
        raise MasterKeyError(f"master key version {version} is the current one")
    lines = [
        f"{v}:{base64.b64encode(k).decode()}\n" for v, k in sorted(keys.items()) if v != version
    ]
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.writelines(lines)
    temporary.replace(path)


def read_ring(path: Path) -> dict[int, bytes]:
    keys: dict[int, bytes] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            version, _, encoded = line.partition(":")
            keys[int(version)] = _decode(encoded.strip(), f"{path} version {version}")
    return keys


def add_master_key(path: Path) -> int:
    """Append a new master key version to the ring file (created 0600); its version."""
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = read_ring(path) if path.exists() else {}
    version = max(keys, default=0) + 1
    line = f"{version}:{base64.b64encode(os.urandom(32)).decode()}\n"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a") as handle:
        handle.write(line)
    return version


def _decode(value: str, source: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MasterKeyError(f"{source} is not base64") from None
    if len(raw) != 32:
        raise MasterKeyError(f"{source} must hold 32 bytes, not {len(raw)}")
    return raw
