"""Pages of a list: `{items, next_cursor, as_of_position}`, every list alike.

A cursor is opaque to clients (base64url of the sort key of the last item); the
server decodes it with the type it expects, so a cursor from another list or a
hand-edited one is refused as `BadCursor` (422, field `cursor`).
"""

from __future__ import annotations

import base64
from typing import Any, TypeVar

import msgspec

from domain.errors import Invalid

T = TypeVar("T")


class BadCursor(Invalid):
    """The `cursor` query parameter is not one this API handed out."""

    field = "cursor"


def encode_cursor(*key: Any) -> str:
    """The cursor that continues after an item whose sort key is `key`."""
    raw = msgspec.json.encode(list(key))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, key_type: type[T]) -> T:
    """The sort key a cursor carries, as `key_type` (a tuple type)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=key_type)
    except (ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise BadCursor("cursor is not one this API handed out; start without it") from None
