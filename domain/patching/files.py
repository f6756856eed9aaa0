"""Hashing file contents into tree entries (the entry types are contracts)."""

from __future__ import annotations

import hashlib

from domain.contracts import ChangeKind, FileChange, FileEntry, FileMode

__all__ = ["ChangeKind", "FileChange", "FileEntry", "entry_for", "sha256_hex"]


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def entry_for(content: bytes, mode: FileMode) -> FileEntry:
    return FileEntry(sha256_hex(content), mode, len(content))
