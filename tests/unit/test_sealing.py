"""The envelope's bindings, as properties: a sealed value opens only as what it was
sealed as, and no nonce repeats under one master key."""

from __future__ import annotations

import os
from uuid import UUID

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given, settings
from hypothesis import strategies as st

from infrastructure.secrets.keys import LocalKeyRing
from infrastructure.secrets.vault import open_value, seal_value

RING = LocalKeyRing({1: bytes(range(32))})
names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True)
ids = st.uuids()
versions = st.integers(min_value=1, max_value=10_000)


@settings(max_examples=200, deadline=None)
@given(
    secret=ids, version=versions, name=names, value=st.binary(min_size=8, max_size=200),
    other_secret=ids, other_version=versions, other_name=names,
)  # fmt: skip
def test_a_value_opens_only_as_the_secret_version_and_name_it_was_sealed_as(
    secret: UUID,
    version: int,
    name: str,
    value: bytes,
    other_secret: UUID,
    other_version: int,
    other_name: str,
) -> None:
    box = seal_value(RING, secret, version, name, value)
    assert open_value(RING, secret, version, name, *box) == value
    for moved in (
        (other_secret, version, name),
        (secret, other_version, name),
        (secret, version, other_name),
    ):
        if moved == (secret, version, name):
            continue  # hypothesis drew the same one
        with pytest.raises(InvalidTag):
            open_value(RING, *moved, *box)


def test_no_nonce_repeats_in_a_million_wraps_under_one_master_key() -> None:
    """Every data key is wrapped under the same master key with a random 96-bit nonce:
    a repeat would break AES-GCM. A million wraps (about 3 s) show none."""
    key = os.urandom(32)
    seen = {RING.wrap(key, b"aad")[1][:12] for _ in range(1_000_000)}
    assert len(seen) == 1_000_000
