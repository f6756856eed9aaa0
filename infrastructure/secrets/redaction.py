"""Masking secret values wherever output leaves the process.

A `Redactor` knows every value this process has held (sealed, rotated or released
here) in each rendering a program might print it in: as is, JSON-escaped,
URL-encoded, hex, base64 and base64url at each of the three byte alignments (a value
inside a larger encoded blob), and, for values of several lines, each line. One
Aho-Corasick automaton (pyahocorasick) finds them all in one pass; each is replaced by
`[REDACTED:<secret name>]`, never by anything derived from the value.

`stream()` masks a stream cut into chunks (a terminal): a value split across two
chunks is caught, because the end of a chunk that could begin a value is held back
until the next chunk shows whether it does.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Final
from urllib.parse import quote, quote_plus

import ahocorasick

#: Shorter values cannot be masked without masking ordinary text.
MIN_LENGTH: Final = 8


def renderings(value: str) -> set[str]:
    """Every form of `value` worth masking (those at least MIN_LENGTH long; none for a
    value shorter than that: its encodings would only hide ordinary text)."""
    if len(value) < MIN_LENGTH:
        return set()
    raw = value.encode()
    forms = {
        value,
        json.dumps(value)[1:-1],
        quote(value, safe=""),
        quote_plus(value, safe=""),
        raw.hex(),
        raw.hex().upper(),
    }
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for offset in range(3):
            forms.add(_aligned(encode, raw, offset))
    lines = [line for line in value.splitlines() if line.strip()]
    if len(lines) > 1:
        forms.update(lines)
    return {form for form in forms if len(form) >= MIN_LENGTH}


def _aligned(encode: Callable[[bytes], bytes], raw: bytes, offset: int) -> str:
    """The characters of `raw`'s base64 that do not depend on its neighbours, when it
    starts `offset` bytes into a larger blob."""
    encoded = encode(bytes(offset) + raw).decode().rstrip("=")
    skip = (offset * 4 + 2) // 3  # characters touched by the bytes before it
    end = (offset + len(raw)) * 4 // 3  # characters fully made of its own bytes
    return encoded[skip:end]


class Redactor:
    """The values this process holds, and where they hide in text."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}  # rendering -> secret name
        self._automaton: ahocorasick.Automaton | None = None
        self._prefixes: set[str] = set()
        self._longest = 0
        self._lock = threading.Lock()

    def add(self, name: str, value: str) -> None:
        forms = renderings(value)
        with self._lock:
            if all(self._names.get(form) == name for form in forms):
                return
            for form in forms:
                self._names[form] = name
            self._automaton = None  # rebuilt on next use

    def __len__(self) -> int:
        return len(self._names)

    def redact(self, text: str) -> str:
        """`text` with every known rendering of every value masked."""
        if not self._names:
            return text
        return _mask(text, self._matches(text))

    def found_in(self, text: str) -> str | None:
        """The name of a secret one of whose renderings is in `text` (None: none)."""
        if not self._names:
            return None
        matches = self._matches(text)
        return matches[0][2] if matches else None

    def stream(self, carry: str = "") -> StreamRedactor:
        """A masked stream; `carry` is what an earlier part of it held back."""
        return StreamRedactor(self, carry)

    def _matches(self, text: str) -> list[tuple[int, int, str]]:
        automaton = self._built()
        found = [
            (end - len(form) + 1, end + 1, self._names[form]) for end, form in automaton.iter(text)
        ]
        return _merge(found)

    def _built(self) -> ahocorasick.Automaton:
        with self._lock:
            if self._automaton is None:
                automaton = ahocorasick.Automaton()
                for form in self._names:
                    automaton.add_word(form, form)
                automaton.make_automaton()
                self._automaton = automaton
                self._prefixes = {form[:i] for form in self._names for i in range(1, len(form))}
                self._longest = max(len(form) for form in self._names)
            return self._automaton

    def held_back(self, text: str) -> int:
        """How many characters at the end of `text` could begin a value."""
        self._built()
        for size in range(min(self._longest - 1, len(text)), 0, -1):
            if text[-size:] in self._prefixes:
                return size
        return 0


class StreamRedactor:
    """Masks a stream chunk by chunk; a value split across chunks is still masked."""

    def __init__(self, redactor: Redactor, carry: str = "") -> None:
        self._redactor = redactor
        self._carry = carry

    @property
    def pending(self) -> str:
        """What is held back: it may begin a value the next chunk completes."""
        return self._carry

    def feed(self, chunk: str) -> str:
        """What can be shown of the stream so far (masked); the rest waits."""
        text = self._carry + chunk
        if not len(self._redactor):
            self._carry = ""
            return text
        matches = self._redactor._matches(text)
        cut = len(text) - self._redactor.held_back(text)
        for start, end, _ in matches:
            if start < cut < end:
                cut = end  # a whole value straddles the cut: show it masked now
        self._carry = text[cut:]
        return _mask(text[:cut], [m for m in matches if m[1] <= cut])

    def close(self) -> str:
        """The rest, masked (the stream ended: nothing more can complete a value)."""
        rest, self._carry = self._carry, ""
        return self._redactor.redact(rest)


#: The values this process holds: one redactor for every way output leaves it.
REDACTOR: Final = Redactor()


class RedactSecrets(logging.Filter):
    """Masks the process's secret values in log records (message and arguments)."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if len(self._redactor):
            message = record.getMessage()
            masked = self._redactor.redact(message)
            if masked != message:
                record.msg, record.args = masked, None
        return True


def _merge(found: Iterable[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Overlapping matches as one span each (named after the longest)."""
    merged: list[tuple[int, int, str]] = []
    for start, end, name in sorted(found, key=lambda m: (m[0], -m[1])):
        if merged and start < merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], end), last[2])
        else:
            merged.append((start, end, name))
    return merged


def _mask(text: str, spans: list[tuple[int, int, str]]) -> str:
    pieces: list[str] = []
    at = 0
    for start, end, name in spans:
        pieces.append(text[at:start])
        pieces.append(f"[REDACTED:{name}]")
        at = end
    pieces.append(text[at:])
    return "".join(pieces)
