"""Where the last clean verification reached, kept outside the database.

`vibehq audit verify --new` starts after it: from the last signed checkpoint a clean
run matched, chaining on from the log hash that run saw there, not from what the
database says now. Kept in the data folder (`audit-verified.json`) rather than in
the database, so whoever can rewrite the database cannot also move the mark; a
database whose chain at the mark no longer has that hash fails the check.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import msgspec

from domain.contracts import VerifiedMark
from infrastructure.settings import Settings, data_folder

FILE: Final = "audit-verified.json"


def mark_file(settings: Settings) -> Path:
    return data_folder(settings) / FILE


def read_mark(path: Path) -> VerifiedMark | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=VerifiedMark)
    except FileNotFoundError:
        return None
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise ValueError(f"{path} is not a verification mark ({error}); delete it") from None


def write_mark(path: Path, mark: VerifiedMark) -> None:
    """Written whole or not at all (a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(msgspec.json.encode(mark))
    os.replace(partial, path)
