"""Export files compressed or not, chosen by the file's name: `.gz` (gzip), `.zst`
(Zstandard), anything else as is."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import zstandard


@contextlib.contextmanager
def writing(path: Path, real_name: Path) -> Iterator[BinaryIO]:
    """`path` opened for writing, compressed as `real_name`'s suffix says (the file is
    written under a temporary name and renamed when complete)."""
    with path.open("wb") as raw:
        if real_name.suffix == ".gz":
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6) as packed:
                yield packed  # type: ignore[misc]
        elif real_name.suffix == ".zst":
            with zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False) as packed:
                yield packed
        else:
            yield raw
        raw.flush()
        os.fsync(raw.fileno())  # on disk before it is renamed into place


@contextlib.contextmanager
def reading(path: Path) -> Iterator[tuple[BinaryIO, BinaryIO]]:
    """(lines to read, the file beneath: its `tell()` is how far through it we are)."""
    with path.open("rb") as raw:
        if path.suffix == ".gz":
            with gzip.GzipFile(fileobj=raw, mode="rb") as unpacked:
                yield unpacked, raw  # type: ignore[misc]
        elif path.suffix == ".zst":
            reader = zstandard.ZstdDecompressor().stream_reader(raw, closefd=False)
            with io.BufferedReader(reader) as unpacked:
                yield unpacked, raw
        else:
            yield raw, raw
