"""The Ed25519 key that signs log checkpoints, kept outside the database.

`VIBEHQ_SIGNING_KEY` holds the 32-byte private seed, base64. Unset, a key is created
once in the data folder (`signing-key`, mode 0600) so a local instance signs out of the
box. Auditors verify with the public half only: `VIBEHQ_VERIFY_KEY` (base64), or the
one derived from the signing key.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from infrastructure.settings import Settings, data_folder

KEY_FILE = "signing-key"


class SigningKeyError(ValueError):
    """A configured key cannot be used; str() names the variable."""


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    if settings.signing_key:
        seed = _decode(settings.signing_key, 32, "VIBEHQ_SIGNING_KEY")
        return Ed25519PrivateKey.from_private_bytes(seed)
    path = data_folder(settings) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        seed = os.urandom(32)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(base64.b64encode(seed).decode() + "\n")
    return Ed25519PrivateKey.from_private_bytes(_decode(path.read_text().strip(), 32, str(path)))


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def verify_key(settings: Settings) -> bytes:
    """The public key checkpoints must be signed with."""
    if settings.verify_key:
        return _decode(settings.verify_key, 32, "VIBEHQ_VERIFY_KEY")
    return public_bytes(signing_key(settings))


def signature_valid(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _decode(value: str, size: int, source: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SigningKeyError(f"{source} is not base64") from None
    if len(raw) != size:
        raise SigningKeyError(f"{source} must hold {size} bytes, not {len(raw)}")
    return raw
