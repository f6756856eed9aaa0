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


class Packed:
    """An export being written under a temporary name, compressed as `real_name`'s
    suffix says. `seal()` ends the current gzip member or Zstandard frame and puts the
    file on disk: everything up to the size it returns is a whole file on its own, and
    writing on from there (`at=` that size) gives one whose members or frames every
    reader reads through."""

    def __init__(self, path: Path, real_name: Path, *, at: int | None = None) -> None:
        self._suffix = real_name.suffix
        self._raw: BinaryIO
        if at is None:
            self._raw = path.open("wb")
        else:
            self._raw = path.open("r+b")
            self._raw.truncate(at)
            self._raw.seek(at)
        self._packer = self._open_packer()

    def _open_packer(self) -> BinaryIO:
        if self._suffix == ".gz":
            return gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=6)  # type: ignore[return-value]
        if self._suffix == ".zst":
            return zstandard.ZstdCompressor(level=3).stream_writer(self._raw, closefd=False)
        return self._raw

    def write(self, data: bytes) -> None:
        self._packer.write(data)

    def _finish(self) -> int:
        if self._packer is not self._raw:
            self._packer.close()  # the member's or frame's end; the file stays open
        self._raw.flush()
        os.fsync(self._raw.fileno())
        return self._raw.tell()

    def seal(self) -> int:
        """End what is written so far, on disk; returns the file's size."""
        size = self._finish()
        self._packer = self._open_packer()
        return size

    def close(self) -> None:
        self._finish()
        self._raw.close()

    def abandon(self) -> None:
        """Close without ending the member or frame (the caller cuts the file back)."""
        self._raw.close()


@contextlib.contextmanager
def reading(path: Path) -> Iterator[tuple[BinaryIO, BinaryIO]]:
    """(lines to read, the file beneath: its `tell()` is how far through it we are)."""
    with path.open("rb") as raw:
        if path.suffix == ".gz":
            with gzip.GzipFile(fileobj=raw, mode="rb") as unpacked:
                yield unpacked, raw  # type: ignore[misc]
        elif path.suffix == ".zst":
            reader = zstandard.ZstdDecompressor().stream_reader(
                raw, closefd=False, read_across_frames=True
            )
            with io.BufferedReader(reader) as unpacked:
                yield unpacked, raw
        else:
            yield raw, raw
