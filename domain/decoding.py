"""From wire bytes to contract structs, with errors that name the field at fault.

`decode_json` and `convert` turn msgspec's validation errors into `ContractViolation`
(an `Invalid`, so HTTP answers 422 naming `field`, the CLI exits 2). The contracts
themselves are declarations only, in `domain/contracts.py`.
"""

from __future__ import annotations

import re
from typing import Final, TypeVar

import msgspec

from domain.contracts import TerminalControl, TerminalInput, TerminalResize
from domain.errors import Invalid


class ContractViolation(Invalid):
    """Input did not match a contract. `field` is a dotted path such as `operations[0].path`."""

    field: str

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


_MISSING: Final = re.compile(r"^Object missing required field `([^`]+)`$")
_AT_PATH: Final = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)

T = TypeVar("T")


def field_of(error: msgspec.ValidationError | msgspec.DecodeError) -> ContractViolation:
    """Turn msgspec's "Expected `int`, got `str` - at `$.a[0].b`" into field + reason."""
    match = _AT_PATH.match(str(error))
    assert match is not None  # the pattern accepts any string
    path = (match.group("path") or "").lstrip(".")
    reason = match.group("reason")
    missing = _MISSING.match(reason)
    if missing:  # msgspec names the object, not the absent field in it
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    return ContractViolation(path, reason)


def decode_json(data: bytes | str, into: type[T]) -> T:
    """Decode JSON into a contract type, raising ContractViolation naming the bad field."""
    try:
        return msgspec.json.decode(data, type=into)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise field_of(error) from None


_TERMINAL_CONTROL: Final = msgspec.json.Decoder(TerminalControl)


def decode_terminal_control(data: bytes | str) -> TerminalInput | TerminalResize:
    """A terminal viewer's message (a union, which `decode_json` cannot name as a type)."""
    try:
        return _TERMINAL_CONTROL.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise field_of(error) from None


def convert(data: object, into: type[T]) -> T:
    """Like decode_json, for data already parsed into Python builtins."""
    try:
        return msgspec.convert(data, type=into)
    except msgspec.ValidationError as error:
        raise field_of(error) from None
